"""One row of ``layer.json``: :class:`LayerRecord`."""
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from benchmarks import _common as common

#: The name of the reference every layer's time is divided by.
REFERENCE = 'reference (sum of parts)'

#: The keys of a row without timings (a failed layer, or a note), as
#: layer.json has always written it; the rest only make sense measured.
_UNMEASURED_KEYS = ('name', 'case', 'fwd_ms', 'fwdbwd_ms', 'peak_mem_mb',
                    'ratio_to_reference', 'layout', 'note', 'threads')


@dataclass
class LayerRecord:
    """A layer (or the reference, or one of its parts) in one case: its
    medians, their spread, peak memory and the ratios to the reference
    measured just before it. Times in ms, memory in MiB; ``None`` where
    nothing was measured."""
    name: str
    case: str
    fwd_ms: Optional[float] = None
    fwdbwd_ms: Optional[float] = None
    peak_mem_mb: Optional[float] = None  # forward + backward
    ratio_to_reference: Optional[float] = None  # forward + backward
    fwd_ratio_to_reference: Optional[float] = None
    fwd_iqr_ms: Optional[float] = None
    fwdbwd_iqr_ms: Optional[float] = None
    fwd_samples: Optional[int] = None
    fwdbwd_samples: Optional[int] = None
    peak_mem_fwd_mb: Optional[float] = None
    layout: Optional[str] = ''  # None: a row that is about no layout
    note: str = ''
    threads: int = 0
    macs_fwd: Optional[int] = None  # analytic forward multiply-adds
    fwd_gflops: Optional[float] = None
    contention: Optional[float] = None  # worst CPU share others took
    # only the reference's row: the least and most of its repeated
    # forward+backward medians over the case
    reference_spread_fwdbwd_ms: Optional[List[float]] = None

    @property
    def measured(self) -> bool:
        return self.fwd_ms is not None

    @property
    def contended(self) -> bool:
        return (self.contention or 0) > common.CONTENTION_LIMIT

    def to_json(self) -> Dict[str, Any]:
        """The row with the keys layer.json has always had: an unmeasured
        row without the measurement fields (and without ``layout`` where
        it is about none), the spread only on the reference."""
        data = asdict(self)
        if self.reference_spread_fwdbwd_ms is None:
            del data['reference_spread_fwdbwd_ms']
        if not self.measured:
            data = {key: data[key] for key in _UNMEASURED_KEYS}
            if self.layout is None:
                del data['layout']
        return data

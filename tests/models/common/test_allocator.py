import platform
import sys

from models.common.allocator import keep_freed_memory


def test_keep_freed_memory_takes_effect_on_glibc():
    on_glibc = sys.platform.startswith('linux') and \
        platform.libc_ver()[0] == 'glibc'
    assert keep_freed_memory() is on_glibc


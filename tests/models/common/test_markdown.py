from models.common.markdown import markdown_table


def test_markdown_table():
    text = markdown_table(['a', 'b'], [[1, None], ['x|y', 2]])
    assert text.splitlines() == ['| a | b |', '|---|---|', '| 1 | - |',
                                 '| x\\|y | 2 |']

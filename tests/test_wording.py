from textclf.wording import counted


def test_counted_uses_the_singular_for_one_and_the_plural_otherwise() -> None:
    assert counted(1, "text") == "1 text"
    assert counted(0, "text") == "0 texts"
    assert counted(2, "class", "classes") == "2 classes"
    assert counted(12500, "word") == "12,500 words"

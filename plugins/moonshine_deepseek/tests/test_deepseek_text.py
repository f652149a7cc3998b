"""Citation-marker cleaning."""

from moonshine_deepseek.text import clean_citations, join_parts


def test_citation_and_reference_markers_are_removed_with_their_leading_space():
    text, cited = clean_citations("Tides come twice [citation:1][citation:3]. Also [reference:2] here.")
    assert text == "Tides come twice. Also here."
    assert cited == [1, 3, 2]


def test_multi_index_marker_and_fullwidth_comma():
    text, cited = clean_citations("A[citation:1,2] B[citation:4，5]")
    assert text == "A B"
    assert cited == [1, 2, 4, 5]


def test_text_without_markers_is_unchanged():
    for sample in ("", "plain", "[not a marker]", "[citation:x]", "list[0]"):
        assert clean_citations(sample) == (sample, [])


def test_join_parts_skips_empty_pieces():
    assert join_parts(["a", "", "b"]) == "a\n\nb"
    assert join_parts([]) == ""

"""Reading CSV, JSONL, Parquet and pandas with a column mapping; bad files reported."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.data.exporters import to_jsonl, to_parquet
from llmloop.data.importers import ColumnMapping, from_pandas, from_records, read_file
from llmloop.errors import ValidationError
from llmloop.records import Record

MAPPING = ColumnMapping(id="id", inputs=["text"], expectations=["label"], metadata=["lang"])


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_csv_with_mapping_builds_typed_records() -> None:
    data = csv_bytes("id,text,label,lang,score", "a,hello,greet,en,0.5", "b,bye,leave,fr,1")
    result = read_file(data, "csv", MAPPING)
    assert [r.id for r in result.records] == ["a", "b"]
    first = result.records[0]
    assert first.inputs == {"text": "hello"}
    assert first.expectations == {"label": "greet"}
    assert first.metadata == {"lang": "en"}
    assert first.source.kind == "import" and first.source.ref == "csv"
    assert result.report.imported == 2 and result.report.skipped == []
    assert result.report.columns == ["id", "text", "label", "lang", "score"]


def test_csv_columns_are_typed_when_every_cell_parses() -> None:
    data = csv_bytes("id,n,x,flag,zip", "007,1,1.5,true,01234", "008,2,2,False,x9")
    (a, b) = read_file(data, "csv").records
    assert a.id == "007"  # ids stay text
    assert a.inputs == {"n": 1, "x": 1.5, "flag": True, "zip": "01234"}
    assert b.inputs == {"n": 2, "x": 2.0, "flag": False, "zip": "x9"}


def test_default_mapping_follows_column_prefixes() -> None:
    data = csv_bytes(
        "id,question,expectations.answer,metadata.domain,outputs.reply", "q1,2+2?,4,math,5"
    )
    (record,) = read_file(data, "csv").records
    assert record.id == "q1"
    assert record.inputs == {"question": "2+2?"}
    assert record.expectations == {"answer": 4}
    assert record.metadata == {"domain": "math"}
    assert record.outputs == {"reply": 5}


def test_missing_columns_refuse_the_whole_file_naming_them() -> None:
    data = csv_bytes("id,text", "a,hello")
    with pytest.raises(ValidationError) as info:
        read_file(data, "csv", MAPPING)
    assert "'label', 'lang'" in info.value.message
    assert info.value.details[0]["missing"] == ["label", "lang"]


def test_a_column_mapped_twice_is_refused() -> None:
    mapping = ColumnMapping(inputs=["text"], metadata=["text"])
    with pytest.raises(ValidationError, match=r"names the column\(s\) \['text'\] more than once"):
        read_file(csv_bytes("text", "hi"), "csv", mapping)


def test_wrong_encoding_names_the_byte_and_line() -> None:
    data = "id,text\na,héllo\n".encode("latin-1")
    with pytest.raises(ValidationError) as info:
        read_file(data, "csv")
    assert "byte 0xe9" in info.value.message and "line 2" in info.value.message
    (record,) = read_file(data, "csv", encoding="latin-1").records
    assert record.inputs == {"text": "héllo"}


def test_utf8_bom_is_not_part_of_the_first_column() -> None:
    data = "\ufeffid,text\na,hi\n".encode()
    (record,) = read_file(data, "csv").records
    assert record.id == "a"


def test_empty_rows_duplicate_ids_and_ragged_rows_are_reported() -> None:
    data = csv_bytes(
        "id,text,label,lang", "a,hi,x,en", ",,,", "", "a,again,y,en", "b,,y,en", "c,t,y,en,extra"
    )
    result = read_file(data, "csv", MAPPING)
    assert [r.id for r in result.records] == ["a"]
    reasons = {(s.row, s.reason) for s in result.report.skipped}
    assert reasons == {
        (2, "empty row"),
        (3, "empty row"),
        (4, "duplicate id 'a' (first on row 1)"),
        (5, "no input values"),
        (6, "row has 5 cells but the header has 4 columns"),
    }
    assert result.report.rows_read == 6 and result.report.imported == 1


def test_on_error_fail_refuses_everything_with_the_report() -> None:
    data = csv_bytes("id,text", "a,hi", "a,again")
    with pytest.raises(ValidationError) as info:
        read_file(data, "csv", on_error="fail")
    assert "1 of 2 rows cannot be imported (row 2: duplicate id 'a'" in info.value.message
    assert info.value.details["skipped"][0]["row"] == 2


def test_csv_without_header_is_refused() -> None:
    with pytest.raises(ValidationError, match="no header row"):
        read_file(b"", "csv")
    with pytest.raises(ValidationError, match="repeats the column"):
        read_file(csv_bytes("a,a", "1,2"), "csv")


def test_jsonl_accepts_records_and_flat_objects_and_reports_bad_lines() -> None:
    lines = [
        json.dumps({"id": "r1", "inputs": {"q": "hi"}, "expectations": {"a": "yo"}}),
        json.dumps({"text": "flat row", "metadata.lang": "de"}),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"id": "r1", "inputs": {"q": "dup"}}),
        json.dumps({"inputs": "not a dict but a string"}),
    ]
    result = read_file("\n".join(lines).encode(), "jsonl")
    ids = [r.id for r in result.records]
    assert ids[0] == "r1" and ids[1].startswith("rec_")
    assert result.records[0].expectations == {"a": "yo"}
    assert result.records[1].inputs == {"text": "flat row"}
    assert result.records[1].metadata == {"lang": "de"}
    assert result.records[2].inputs == {"inputs": "not a dict but a string"}
    skipped = {s.row: s.reason for s in result.report.skipped}
    assert skipped[3].startswith("invalid JSON")
    assert skipped[4] == "line is a JSON list, not an object"
    assert skipped[5] == "empty row"
    assert skipped[6] == "duplicate id 'r1' (first on row 1)"


def test_content_ids_are_stable_across_reads() -> None:
    data = csv_bytes("text", "same", "same", "other")
    first = [r.id for r in read_file(data, "csv").records]
    assert first == [r.id for r in read_file(data, "csv").records]
    assert first[1] == first[0] + "_2" and len(set(first)) == 3


def test_parquet_and_pandas_read_with_mapping() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "text": ["x", None, "z"],
            "label": [1, 2, 3],
            "lang": ["en", "fr", None],
        }
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame), sink)
    for result in (read_file(sink.getvalue(), "parquet", MAPPING), from_pandas(frame, MAPPING)):
        assert [r.id for r in result.records] == ["a", "c"]
        assert result.records[1].metadata == {}
        assert result.records[0].expectations == {"label": 1}
        assert type(result.records[0].expectations["label"]) is int  # not numpy
        assert [(s.row, s.reason) for s in result.report.skipped] == [(2, "no input values")]


def test_not_a_parquet_file_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a readable Parquet file"):
        read_file(b"id,text\n", "parquet")


def test_from_records_skips_invalid_and_duplicates() -> None:
    result = from_records(
        [
            {"id": "a", "inputs": {"q": 1}},
            {"id": "b", "inputs": "x"},
            Record(id="a", inputs={"q": 2}),
        ]
    )
    assert [r.id for r in result.records] == ["a"]
    assert [s.row for s in result.report.skipped] == [2, 3]
    assert result.report.skipped[0].reason.startswith("inputs:")


def _records() -> list[Record]:
    return [
        Record(
            id="a", inputs={"q": "hi", "n": 1}, expectations={"y": "greet"}, metadata={"lang": "en"}
        ),
        Record(
            id="b", inputs={"q": "ciao"}, outputs={"r": "hey"}, metadata={"lang": "it", "tier": 2}
        ),
    ]


def test_jsonl_export_imports_back_to_equal_content() -> None:
    records = _records()
    back = read_file(to_jsonl(records), "jsonl").records
    assert [(r.id, r.content_hash()) for r in back] == [(r.id, r.content_hash()) for r in records]


def test_parquet_export_imports_back_to_equal_content() -> None:
    records = _records()
    back = read_file(to_parquet(records), "parquet").records
    assert [(r.id, r.content_hash()) for r in back] == [(r.id, r.content_hash()) for r in records]


def test_parquet_export_keeps_mixed_columns_as_json_text() -> None:
    records = [Record(id="a", inputs={"v": 1}), Record(id="b", inputs={"v": [1, "x"]})]
    table = pq.read_table(io.BytesIO(to_parquet(records)))
    assert table.column("inputs.v").to_pylist() == ["1", '[1, "x"]']


text_cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s.strip() and s.strip() == s)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(text_cell, text_cell), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_csv_round_trip_keeps_every_text_cell(rows: list[tuple[str, str]]) -> None:
    ids, texts = [f"id-{r[0]}" for r in rows], [f"t {r[1]}" for r in rows]
    frame = pd.DataFrame({"id": ids, "text": texts})
    result = read_file(frame.to_csv(index=False).encode(), "csv")
    assert [r.id for r in result.records] == ids
    assert [r.inputs["text"] for r in result.records] == texts
    assert result.report.skipped == []

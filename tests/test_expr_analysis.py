"""Static analysis (requirement 2): names, arity, types, positions, suggestions."""
from __future__ import annotations

import pytest

from engine.expr import (Compiled, Diagnostic, ExprArityError, ExprError, ExprNameError,
                         ExprSyntaxError, FieldSig, check, compile_expression)

SCHEMA = {
    "amount": FieldSig("number"), "name": FieldSig("text"), "due": FieldSig("date"),
    "ok": FieldSig("boolean"), "n_text": FieldSig("text"), "tags": FieldSig("list"),
    "lines": FieldSig("records", {"qty": FieldSig("number"), "price": FieldSig("number")}),
    "customer": FieldSig("record", {"level": FieldSig("text"),
                                    "address": FieldSig("record", {"city": FieldSig("text")})}),
    "Unit Price": FieldSig("number"), "SUM": FieldSig("number"), "meta": FieldSig("any"),
}


def only(source):
    diags = check(source, SCHEMA)
    assert len(diags) == 1, diags
    return diags[0]


def test_a_valid_expression_has_no_diagnostics():
    assert check('IF(AND(amount > 1000, name = "x"), amount * 0.9, amount)', SCHEMA) == []


def test_unknown_field_suggests_the_closest_key():
    d = only("amout * 2")
    assert (d.code, d.line, d.column, d.end_column) == ("#NAME?", 1, 1, 6)
    assert d.message == "unknown field 'amout' (did you mean 'amount'?)"
    assert d.suggestion == "amount"


def test_field_keys_are_case_sensitive_but_suggested():
    d = only("Amount + 1")
    assert d.code == "#NAME?" and d.suggestion == "amount"


def test_diagnostic_excerpt_has_a_caret_line():
    d = only("1 + amout")
    assert d.excerpt == "1 + amout\n    ^^^^^"


def test_positions_on_later_lines():
    d = only("ROUND(amount\n  + nme, 2)")
    assert (d.line, d.column, d.end_column) == (2, 5, 8)
    assert d.excerpt.split("\n") == ["  + nme, 2)", "    ^^^"]


def test_unknown_function_suggests_a_registered_one():
    d = only("SUMM(amount)")
    assert d.code == "#NAME?" and d.suggestion == "SUM"
    assert "did you mean SUM?" in d.message


def test_function_names_are_case_insensitive():
    assert check("round(amount, 2)", SCHEMA) == []


def test_a_field_may_be_called_like_a_function_name():
    assert check("SUM + SUM(SUM)", SCHEMA) == []


def test_non_ascii_look_alike_function_names_are_unknown():
    assert only("ſum(1)").code == "#NAME?"


def test_wrong_argument_count_is_args():
    d = only("ROUND(1, 2, 3)")
    assert d.code == "#ARGS!"
    assert d.message == "ROUND takes 1 to 2 arguments, got 3"


def test_ifs_needs_an_even_argument_count():
    assert only("IFS(ok, 1, ok)").code == "#ARGS!"


def test_date_takes_three_or_six_arguments():
    assert only("DATE(2024, 1, 1, 1)").code == "#ARGS!"


def test_unknown_subform_column_is_named():
    d = only("SUM(lines.qtty)")
    assert d.code == "#NAME?" and d.suggestion == "qty"
    assert "in lines" in d.message


def test_unknown_linked_record_field_is_named():
    assert only("customer.address.cty").suggestion == "city"


def test_paths_into_any_are_not_checked():
    assert check("meta.whatever.deep", SCHEMA) == []


def test_unknown_builtin_is_named():
    d = only("$usr.name")
    assert d.code == "#NAME?" and d.suggestion == "$user"


def test_known_builtins_pass():
    assert check("$user.name & $record_id & $parent.x & $now & $today", SCHEMA) == []


def test_concat_of_a_number_field_is_fine():
    assert check('amount & "x"', SCHEMA) == []


def test_sum_of_a_text_field_is_flagged():
    d = only("SUM(name)")
    assert d.code == "#VALUE!" and (d.column, d.end_column) == (5, 9)


def test_text_literal_arithmetic_is_flagged_when_certain():
    assert only('"a" + 1').code == "#VALUE!"


def test_numeric_text_literal_arithmetic_is_not_flagged():
    assert check('"1" + 1', SCHEMA) == []
    assert check('"" + 1', SCHEMA) == []


def test_ordering_text_field_against_number_is_flagged():
    assert only("n_text > 100").code == "#VALUE!"


def test_list_in_scalar_arithmetic_is_flagged():
    assert only("lines.qty * 2").code == "#VALUE!"


def test_list_in_aggregate_is_fine():
    assert check("SUM(lines.qty) + SUMPRODUCT(lines.qty, lines.price)", SCHEMA) == []


def test_date_function_on_a_number_is_flagged():
    assert only("YEAR(amount)").code == "#VALUE!"


def test_bad_literal_date_text_is_flagged():
    assert only('YEAR("15/03/2024")').code == "#VALUE!"


def test_concat_of_a_list_is_flagged():
    assert only('tags & ""').code == "#VALUE!"


def test_several_problems_are_all_reported_in_order():
    diags = check("nope + SUMM(1) + ROUND()", SCHEMA)
    assert [d.code for d in diags] == ["#NAME?", "#NAME?", "#ARGS!"]
    assert [d.column for d in diags] == sorted(d.column for d in diags)


def test_syntax_error_is_one_diagnostic():
    d = only("1 +")
    assert (d.code, d.column) == ("#SYNTAX!", 4)


def test_check_never_raises_for_bad_input():
    for bad in [None, 5, "(" * 10000, "\x00", '"' * 5000, "{" * 50]:
        assert all(isinstance(d, Diagnostic) for d in check(bad, SCHEMA))


def test_check_with_schema_none_accepts_any_field():
    assert check("whatever.x + 1", None) == []


def test_compile_raises_name_error_with_diagnostics():
    with pytest.raises(ExprNameError) as e:
        compile_expression("amout", SCHEMA)
    assert e.value.code == "#NAME?"
    assert e.value.diagnostics[0].suggestion == "amount"


def test_compile_raises_arity_and_syntax_errors():
    with pytest.raises(ExprArityError):
        compile_expression("NOT()", SCHEMA)
    with pytest.raises(ExprSyntaxError) as e:
        compile_expression("1 +", SCHEMA)
    assert e.value.code == "#SYNTAX!" and e.value.diagnostics


def test_type_warnings_do_not_stop_compilation():
    c = compile_expression('IFERROR("a" + 1, 0)', SCHEMA)
    assert c.evaluate({}) == 0


def test_compiled_reports_fields_and_paths():
    c = compile_expression("SUMPRODUCT(lines.qty, lines.price) * amount", SCHEMA)
    assert c.fields == frozenset({"lines", "amount"})
    assert c.paths == frozenset({("lines", "qty"), ("lines", "price"), ("amount",)})


@pytest.mark.parametrize("source,expected", [
    ("amount * 2", "number"), ('name & 1', "text"), ("amount > 1", "boolean"),
    ("DATE(2024, 1, 1)", "date"), ("DATE(2024, 1, 1, 0, 0, 0)", "datetime"),
    ("lines.qty", "list"), ("IF(ok, 1, 2)", "number"), ('IF(ok, 1, "a")', "any"),
    ("SPLIT(name, \",\")", "list"), ("NOW()", "datetime"), ("meta", "any"), ("due", "date"),
])
def test_result_type_is_inferred(source, expected):
    assert compile_expression(source, SCHEMA).result_type == expected


def test_compile_is_cached_per_source_and_schema():
    a = compile_expression("amount + 1", SCHEMA)
    assert compile_expression("amount + 1", dict(SCHEMA)) is a
    assert isinstance(a, Compiled)
    assert compile_expression("amount + 1", {"amount": FieldSig("any")}) is not a


def test_fieldsig_is_hashable_and_compares_by_value():
    a = FieldSig("records", {"q": FieldSig("number")})
    b = FieldSig("records", {"q": FieldSig("number")})
    assert a == b and hash(a) == hash(b)
    with pytest.raises(ValueError):
        FieldSig("money")


def test_every_static_error_is_an_expr_error():
    for cls in (ExprNameError, ExprArityError, ExprSyntaxError):
        assert issubclass(cls, ExprError)

"""Benchmark: formflow closures vs a hand-written Decimal function vs simpleeval.

    python benchmarks/bench_expr.py [--quick]

Expression: IF(AND(amount > 1000, status = "open"), amount * 0.9, amount), evaluated
over records hitting both branches. Prints the median ns/eval of several runs and ratios.
"""
from __future__ import annotations

import argparse
import ast
import os
import statistics
import sys
import time
from decimal import ROUND_HALF_EVEN, Context, Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.expr import compile_expression  # noqa: E402

SOURCE = 'IF(AND(amount > 1000, status = "open"), amount * 0.9, amount)'
RECORDS = [
    {"amount": 1200, "status": "open"},
    {"amount": Decimal("900.50"), "status": "open"},
    {"amount": Decimal("5000"), "status": "Closed"},
    {"amount": 1500, "status": "OPEN"},
]

_CTX = Context(prec=28, rounding=ROUND_HALF_EVEN)
_THOUSAND = Decimal(1000)
_POINT9 = Decimal("0.9")


def hand_written(rec):
    """The same semantics written by hand: int -> Decimal, casefolded text, local context."""
    amount = rec["amount"]
    if amount.__class__ is int:
        amount = Decimal(amount)
    status = rec["status"]
    if amount > _THOUSAND and status.casefold() == "open":
        return _CTX.multiply(amount, _POINT9)
    return amount


def make_simpleeval():
    from simpleeval import SimpleEval

    def IF(c, a, b):  # noqa: N802 - simpleeval evaluates both branches anyway
        return a if c else b

    def AND(*xs):  # noqa: N802
        return all(xs)
    s = SimpleEval(functions={"IF": IF, "AND": AND})
    py = 'IF(AND(amount > 1000, status.lower() == "open"), amount * Decimal("0.9"), amount)'
    s.functions["Decimal"] = Decimal
    tree = ast.parse(py.strip(), mode="eval").body
    if hasattr(s, "parse"):
        tree = s.parse(py)

    def run(rec):
        s.names = rec
        return s.eval(py, previously_parsed=tree)
    return run


def measure(fn, records, loops):
    best = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(loops):
            for r in records:
                fn(r)
        best.append((time.perf_counter_ns() - t0) / (loops * len(records)))
    return statistics.median(best)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer loops (CI smoke run)")
    args = ap.parse_args(argv)
    loops = 500 if args.quick else 5000
    compiled = compile_expression(SOURCE)
    ours = compiled.evaluate
    for r in RECORDS:  # same results
        expect = hand_written(r)
        assert ours(r) == expect, (r, ours(r), expect)
    se = make_simpleeval()
    results = {
        "formflow": measure(ours, RECORDS, loops),
        "hand-written": measure(hand_written, RECORDS, loops),
        "simpleeval": measure(se, RECORDS, max(loops // 10, 50)),
    }
    for name, ns in results.items():
        print(f"{name:13s} {ns:10.0f} ns/eval")
    print(f"formflow / hand-written = {results['formflow'] / results['hand-written']:.2f}x "
          f"(target <= 3x)")
    print(f"simpleeval / formflow   = {results['simpleeval'] / results['formflow']:.1f}x "
          f"(target >= 10x)")
    return results


if __name__ == "__main__":
    main()

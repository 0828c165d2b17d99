"""Small helpers over bench/compare's records: selection, medians, spreads, formatting."""

import statistics
from typing import Iterable, List, Optional


def rec(records: List[dict], **match) -> List[dict]:
    """The records whose fields equal every given value."""
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def med(values: Iterable[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: Iterable[float], fmt: str = "{:,.0f}") -> str:
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}"


def fmt_num(v: Optional[float], fmt: str = "{:,.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def med_spread(values: Iterable[float], fmt: str = "{:,.0f}") -> str:
    """"median (min–max)"; the value alone when there is one, "n/a" when there is none."""
    values = [v for v in values if v is not None]
    return f"{fmt_num(med(values), fmt)} ({spread(values, fmt)})" if len(values) > 1 \
        else fmt_num(med(values), fmt)


def good(r: dict) -> bool:
    """A measurement that counts: something succeeded and nothing failed."""
    return r["ok"] > 0 and r["errors"] == 0 and not r.get("failure")


def values(records: List[dict], field: str) -> List[float]:
    return [r[field] for r in records if good(r) and r.get(field) is not None]

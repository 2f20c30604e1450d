"""Scrapes /metrics, parses it with prometheus-client's own parser and holds it to the contract
that operators' dashboards and the Helm chart's ServiceMonitor rely on."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests._support.stack import SECRET

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Family (as the parser names it: counters without "_total") -> type and label names. Written
# out rather than derived from the code: renaming any of them breaks someone's dashboard.
FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "witryna_http_requests": ("counter", frozenset({"method", "route", "status"})),
    "witryna_http_request_duration_seconds": ("histogram", frozenset({"method", "route"})),
    "witryna_decisions": ("counter", frozenset({"intent"})),
    "witryna_variants_served": ("counter", frozenset({"slot", "variant"})),
    "witryna_degraded_decisions": ("counter", frozenset()),
    "witryna_model_info": ("gauge", frozenset({"version"})),
    "witryna_policy_info": ("gauge", frozenset({"version"})),
    "witryna_metrics_workers": ("gauge", frozenset()),
    "witryna_metrics_pooled": ("gauge", frozenset()),
    "witryna_experiment_exposures": ("gauge", frozenset({"experiment", "arm"})),
    "witryna_experiment_conversions": ("gauge", frozenset({"experiment", "arm"})),
}
# The histogram's bucket bounds as written in the le label, in order.
LE = [
    *("0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05"),
    *("0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"),
]
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}

Labels = frozenset[tuple[str, str]]


class Exposition:
    """One scrape, checked against FAMILIES: a sample without its TYPE, a family typed twice,
    a renamed label or a lost bucket fails here, whatever the test then asks."""

    def __init__(self, text: str) -> None:
        assert text.endswith("\n")
        families = list(text_string_to_metric_families(text))
        # Sorted, not a set: a family written twice must fail too.
        names = sorted(f.name for f in families)
        assert names == sorted(FAMILIES), f"families differ from the contract: {names}"
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in families:
            kind, labels = FAMILIES[family.name]
            assert family.type == kind, f"{family.name} is a {family.type}, not a {kind}"
            # The parser names a counter's samples "_total" even where the text did not.
            typed = f"{family.name}_total" if kind == "counter" else family.name
            assert f"\n# TYPE {typed} {kind}\n" in f"\n{text}", f"{typed} not typed as such"
            assert family.documentation, f"{family.name} has no HELP"
            bounds: dict[Labels, list[str]] = {}
            for sample in family.samples:
                suffix = sample.name.removeprefix(family.name)
                assert suffix in SUFFIXES[kind], sample.name
                keys = set(sample.labels) - ({"le"} if suffix == "_bucket" else set())
                assert keys == labels, f"{sample.name} labelled {sorted(sample.labels)}"
                if suffix == "_bucket":
                    series = frozenset(sample.labels.items() - {("le", sample.labels["le"])})
                    bounds.setdefault(series, []).append(sample.labels["le"])
                self.samples.append((sample.name, sample.labels, sample.value))
            assert all(found == LE for found in bounds.values()), bounds

    def values(self, name: str, **match: str) -> dict[Labels, float]:
        return {
            frozenset(labels.items()): value
            for sample, labels, value in self.samples
            if sample == name and all(labels.get(k) == v for k, v in match.items())
        }

    def value(self, name: str, **match: str) -> float:
        (found,) = self.values(name, **match).values()
        return found

    def by(self, name: str, label: str) -> dict[str, float]:
        return {dict(k)[label]: v for k, v in self.values(name).items()}


def scrape(url: str) -> Exposition:
    # A fresh connection each time, so that with several workers any of them may answer.
    response = httpx.get(f"{url}/metrics", headers=SECRET, timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return Exposition(response.text)

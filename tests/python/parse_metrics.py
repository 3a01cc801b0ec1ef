"""Parses a Prometheus text exposition from stdin with the reference parser (prometheus_client)
and prints each sample as JSON lines: {"name": ..., "labels": {...}, "value": ...}.
Exits non-zero (with the parser's message) when the text is not valid."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = 0
for family in text_string_to_metric_families(text):
    families += 1
    for sample in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": sample.name, "labels": sample.labels, "value": sample.value}))
print(json.dumps({"families": families}), file=sys.stderr)

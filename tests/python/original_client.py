"""A client written the way the original bridge's users wrote theirs: `requests`, a DRF token, follow `next`.

Usage: original_client.py FIRST_PAGE_URL TOKEN  -> prints {"pages": N, "ids": [...]} as JSON.
"""
import json
import sys

import requests


def main():
    url, token = sys.argv[1], sys.argv[2]
    headers = {"Authorization": f"Token {token}"}
    ids, pages = [], 0
    while url:
        response = requests.get(url, headers=headers, timeout=30)
        response.raise_for_status()
        page = response.json()
        ids.extend(day["id"] for day in page["results"])
        url = page["next"]
        pages += 1
    print(json.dumps({"pages": pages, "ids": ids}))


if __name__ == "__main__":
    main()

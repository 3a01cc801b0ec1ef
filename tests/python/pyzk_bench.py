"""Times a full attendance download with pyzk: connect, users, attendance, disconnect.

Usage: pyzk_bench.py HOST PORT tcp|udp  -> prints {"seconds": s, "records": n}
"""
import json
import sys
import time

from zk import ZK


def main():
    host, port, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    started = time.perf_counter()
    zk = ZK(host, port=port, timeout=60, force_udp=(transport == "udp"), ommit_ping=True)
    conn = zk.connect()
    conn.disable_device()
    conn.get_users()
    records = conn.get_attendance()
    conn.enable_device()
    conn.disconnect()
    print(json.dumps({"seconds": time.perf_counter() - started, "records": len(records)}))


if __name__ == "__main__":
    main()

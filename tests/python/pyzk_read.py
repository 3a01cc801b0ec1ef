"""Reads a device with pyzk (the independent Python client) and prints what it saw as one JSON object.

Usage: pyzk_read.py HOST PORT COMM_KEY tcp|udp
"""
import json
import sys

from zk import ZK


def main():
    host, port, key, transport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    zk = ZK(host, port=port, timeout=10, password=key, force_udp=(transport == "udp"), ommit_ping=True)
    conn = zk.connect()
    try:
        conn.disable_device()
        conn.read_sizes()
        users = conn.get_users()
        attendance = conn.get_attendance()
        out = {
            "serial": conn.get_serialnumber(),
            "platform": conn.get_platform(),
            "firmware": conn.get_firmware_version(),
            "mac": conn.get_mac(),
            "device_name": conn.get_device_name(),
            "time": conn.get_time().isoformat(),
            "users": [{"uid": u.uid, "user_id": u.user_id, "name": u.name, "privilege": u.privilege} for u in users],
            "records": conn.records,
            "attendance": [
                {"user_id": a.user_id, "time": a.timestamp.isoformat(), "status": a.status, "punch": a.punch}
                for a in attendance
            ],
        }
        conn.enable_device()
    finally:
        conn.disconnect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

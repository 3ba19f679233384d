#!/usr/bin/env python3
"""Tests only: send and receive IPv4/UDP frames on a raw AF_PACKET socket.

  frames.py send IFACE SRC_MAC DST_MAC SRC_IP PPS SECONDS DST...
      Round-robin over the destinations at about PPS frames/s (UDP to port 9)
      until SECONDS pass or SIGTERM; prints {"sent": {dst: n}} on exit.
  frames.py recv IFACE
      Counts every IPv4/UDP frame to port 9 that arrives on IFACE by
      (destination, Ethernet destination MAC, TTL) until SIGTERM, then prints
      {"received": [[dst, dmac, ttl, n], ...]}. Prints "ready" once listening.

Run each inside the namespace of its interface (ip netns exec)."""
import json
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(':'))


def checksum(header):
    s = sum(struct.unpack('!10H', header))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(src_mac, dst_mac, src_ip, dst_ip):
    payload = b'\0' * 18
    udp = struct.pack('!HHHH', 1024, 9, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                               socket.inet_aton(src_ip), socket.inet_aton(dst_ip)))
    struct.pack_into('!H', ip, 10, checksum(bytes(ip)))
    return dst_mac + src_mac + b'\x08\x00' + bytes(ip) + udp


def send(iface, src_mac, dst_mac, src_ip, pps, seconds, dsts):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    frames = [frame(mac_bytes(src_mac), mac_bytes(dst_mac), src_ip, d) for d in dsts]
    sent = [0] * len(dsts)
    t0 = time.monotonic()
    i = 0
    while not stop:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        due = int(elapsed * pps) + 1
        while i < due:
            k = i % len(frames)
            try:
                s.send(frames[k])
                sent[k] += 1
            except BlockingIOError:
                pass
            i += 1
        time.sleep(0.001)
    print(json.dumps({'sent': dict(zip(dsts, sent))}), flush=True)


def recv(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((iface, 0))
    s.settimeout(0.2)
    counts = {}
    print('ready', flush=True)
    while not stop:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 42 or data[12:14] != b'\x08\x00':
            continue
        if data[14] != 0x45 or data[23] != 17 or struct.unpack('!H', data[36:38])[0] != 9:
            continue
        key = (socket.inet_ntoa(data[30:34]), ':'.join('%02x' % b for b in data[0:6]), data[22])
        counts[key] = counts.get(key, 0) + 1
    print(json.dumps({'received': [[k[0], k[1], k[2], n] for k, n in counts.items()]}), flush=True)


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if len(sys.argv) >= 9 and sys.argv[1] == 'send':
        send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7]), sys.argv[8:])
    elif len(sys.argv) == 3 and sys.argv[1] == 'recv':
        recv(sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main()

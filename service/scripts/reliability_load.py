"""Parts 2 and 3 of the reliability suite, against a running server.

Usage: reliability_load.py BASE_URL CORPUS SECONDS SLOW_CONNECTIONS HEADER_TIMEOUT_S [FAULTY_CORPUS]

2. Slow clients: SLOW_CONNECTIONS connections each send half a request header
   and stop. Meanwhile normal (cached) answers are timed; afterwards, how many
   of the slow connections the server closed within its header timeout.
3. Overload: uncached questions, each one new, at twice the embedding bound of
   the machine (cores / 8 ms) for SECONDS. Counts every outcome; a request may
   only be answered (200) or shed (503 `overloaded`).
4. A failing guardrail (given FAULTY_CORPUS, whose input guardrail times out on
   every call): 16 clients ask that corpus without pause for SECONDS while new
   questions to CORPUS are timed one at a time; every answer of the faulty
   corpus must be a 200 block (`guardrail.unavailable`), every other a 200.

Prints one line of JSON per part; exits 1 when a part breaks its promise.
Standard library only, so the suite needs nothing beyond Python.
"""

import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

BASE, CORPUS = sys.argv[1], sys.argv[2]
SECONDS, SLOW, HEADER_TIMEOUT = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
FAULTY = sys.argv[6] if len(sys.argv) > 6 else None
HOST, PORT = urllib.parse.urlparse(BASE).hostname, urllib.parse.urlparse(BASE).port


def ask(question, corpus=CORPUS):
    """One POST /v1/answer on a fresh connection: (status, code, seconds). The
    code is the error's, or for a 200 the first guardrail code, if any."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
    try:
        body = json.dumps({"question": question, "corpus": corpus})
        conn.request("POST", "/v1/answer", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        try:
            parsed = json.loads(data)
            if resp.status == 200:
                fired = parsed.get("guardrails") or [{}]
                code = fired[0].get("code")
            else:
                code = parsed["error"]["code"]
        except (ValueError, KeyError, TypeError, AttributeError):
            code = "unreadable"
        return resp.status, code, time.monotonic() - started
    except OSError as e:
        return 0, type(e).__name__, time.monotonic() - started
    finally:
        conn.close()


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 1)


def slow_clients():
    question = "When does the clinic open on Saturdays?"
    ask(question)  # cached from here on
    calm = [ask(question)[2] for _ in range(50)]
    socks = []
    for _ in range(SLOW):
        s = socket.create_connection((HOST, PORT), timeout=5)
        s.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        socks.append(s)
    opened = time.monotonic()
    during = [ask(question) for _ in range(200)]
    ok = [d for s, _, d in during if s == 200]
    # Past the header timeout, a closed connection reads as end of stream or
    # a reset; one still open would block until the socket timeout.
    time.sleep(max(0.0, HEADER_TIMEOUT + 1.0 - (time.monotonic() - opened)))
    closed = 0
    for s in socks:
        s.settimeout(0.5)
        try:
            data = s.recv(4096)
            closed += 1 if data == b"" or data.startswith(b"HTTP/1.1 408") else 0
        except (ConnectionResetError, BrokenPipeError):
            closed += 1
        except socket.timeout:
            pass
        finally:
            s.close()
    report = {
        "part": "2. slow clients",
        "half_header_connections": SLOW,
        "closed_by_server_within_timeout_plus_1s": closed,
        "normal_requests": len(during),
        "normal_answered": len(ok),
        "normal_p50_ms_before": pct(calm, 50),
        "normal_p99_ms_before": pct(calm, 99),
        "normal_p50_ms_during": pct(ok, 50),
        "normal_p99_ms_during": pct(ok, 99),
    }
    print(json.dumps(report), flush=True)
    return closed == SLOW and len(ok) == len(during)


def overload():
    rate = 2 * (os.cpu_count() or 1) / 0.008
    results = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    counter = iter(range(10**9))

    def worker(offset):
        # Each worker keeps its share of the rate; a slow answer delays only
        # its own next request, and more workers than needed cover for it.
        next_at = time.monotonic() + offset
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if now < next_at:
                time.sleep(next_at - now)
            next_at += WORKERS / rate
            with lock:
                n = next(counter)
            r = ask(f"Is the clinic open on day {n} of the plan, question {n}?")
            with lock:
                results.append(r)

    WORKERS = 128
    threads = [threading.Thread(target=worker, args=(i / rate,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = [d for s, _, d in results if s == 200]
    shed = [d for s, c, d in results if s == 503 and c == "overloaded"]
    other = [(s, c) for s, c, _ in results if not (s == 200 or (s == 503 and c == "overloaded"))]
    report = {
        "part": "3. overload",
        "target_rps": round(rate),
        "seconds": SECONDS,
        "sent": len(results),
        "sent_rps": round(len(results) / SECONDS, 1),
        "answered": len(answered),
        "answered_rps": round(len(answered) / SECONDS, 1),
        "answered_p50_ms": pct(answered, 50),
        "answered_p99_ms": pct(answered, 99),
        "shed_503_overloaded": len(shed),
        "shed_p99_ms": pct(shed, 99),
        "other_outcomes": len(other),
        "other_examples": other[:5],
    }
    print(json.dumps(report), flush=True)
    return not other


def failing_guardrail():
    def timed(tag, n):
        return [ask(f"When does the clinic open, {tag} question {i}?") for i in range(n)]

    before = timed("calm", 30)
    stop = time.monotonic() + SECONDS
    faulty = []
    lock = threading.Lock()

    def hammer(k):
        i = 0
        while time.monotonic() < stop:
            r = ask(f"When does it open, client {k} question {i}?", FAULTY)
            i += 1
            with lock:
                faulty.append(r)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    during = []
    while time.monotonic() < stop:
        during.append(ask(f"When does the clinic open, busy question {len(during)}?"))
    for t in threads:
        t.join()
    blocked = [r for r in faulty if r[0] == 200 and r[1] == "guardrail.unavailable"]
    calm_ok = [d for s, _, d in during if s == 200]
    report = {
        "part": "4. failing guardrail",
        "faulty_requests": len(faulty),
        "faulty_blocked_guardrail_unavailable": len(blocked),
        "faulty_p99_ms": pct([d for *_, d in faulty], 99),
        "other_corpus_requests": len(during),
        "other_corpus_answered": len(calm_ok),
        "other_p50_ms_before": pct([d for *_, d in before], 50),
        "other_p99_ms_before": pct([d for *_, d in before], 99),
        "other_p50_ms_during": pct(calm_ok, 50),
        "other_p99_ms_during": pct(calm_ok, 99),
    }
    print(json.dumps(report), flush=True)
    return len(blocked) == len(faulty) and len(calm_ok) == len(during)


ok = slow_clients()
ok = overload() and ok
if FAULTY:
    ok = failing_guardrail() and ok
sys.exit(0 if ok else 1)

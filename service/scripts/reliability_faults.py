"""Parts 5 to 8 of the reliability suite: faults under load, and API keys.
Each part starts its own server processes.

Usage: reliability_faults.py CANDOR WORK_DIR SECONDS ADMIN_TOKEN
  (CANDOR_ASSETS_DIR and CANDOR_PLUGINS_DIR as for `candor serve`)

5. kill -9 during a reindex: a steady answer load while a full reindex is held
   in its parsing phase (a file the hostile test parser loops on until its
   deadline); the server is killed there, restarted on the same data, and
   asked again. Every answer before the kill and after the restart must come
   from the old generation, no folder of the killed build may be left, and a
   reindex after it must succeed.
6. A full disk during a reindex: the data dir is a tmpfs (in a user and mount
   namespace of its own, `unshare -rm`) with room for less than half a
   generation. The reindex must fail naming the fault, answers must keep
   coming from the serving generation, nothing half-written may be left, and
   once there is room a reindex must succeed.
7. The answer log locked by another process (an exclusive SQLite transaction):
   every answer is served, with a warning and without an answer_id, the
   failure is counted, and logging resumes once the lock is gone.
8. API keys: missing, wrong, revoked (by a reload) and rate-exceeded keys, and
   a corpus the key may not read, each with its exact status.

Prints one line of JSON per part; exits 1 when a part breaks its promise.
Standard library only.
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

CANDOR, WORK, SECONDS, TOKEN = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
QUESTION = "When does the clinic open on Saturdays?"
failures = []


def check(part, ok, what):
    if not ok:
        failures.append(f"{part}: {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=60):
    """(status, parsed JSON or text, headers); status 0 when the connection failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body)
        h = {"content-type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, data, h)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return resp.status, parsed, dict(resp.getheaders())
    except OSError as e:
        return 0, type(e).__name__, {}
    finally:
        conn.close()


def admin(port, method, path, body=None):
    return request(port, method, path, body, {"authorization": f"Bearer {TOKEN}"})[:2]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def clinic(root, name, more="", docs=30):
    """A clinic corpus of `docs` documents: hours, services, and numbered notes."""
    c = os.path.join(root, "corpora", name)
    write(os.path.join(c, "corpus.toml"),
          f'name = "{name}"\nscope = "Opening hours and services of the clinic."\n'
          f'[[sources]]\npath = "docs"\n{more}')
    write(os.path.join(c, "docs/hours.md"),
          "---\ntitle: Opening hours\ndate: 2025-01-05\n---\n# Opening hours\n\n"
          "The clinic opens at nine on Saturdays and closes at noon. On weekdays it opens at eight.\n")
    for i in range(docs):
        write(os.path.join(c, f"docs/room-{i:03}.md"),
              f"---\ntitle: Room {i}\ndate: 2025-02-{1 + i % 28:02}\n---\n# Room {i}\n\n"
              f"Room {i} is on floor {i % 4} and holds {i + 3} chairs. "
              f"It is cleaned every {['morning', 'evening'][i % 2]} by the day staff. "
              f"Patients wait there for appointment type {i % 7}.\n")
    return c


def index(corpus, data):
    out = subprocess.run([CANDOR, "index", "--corpus", corpus, "--data-dir", data],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"indexing {corpus} failed: {out.stderr[-2000:]}")


class Server:
    """`candor serve` on a free port, optionally inside `wrap` (a shell script
    that ends by exec-ing "$@"), ready when /readyz answers 200."""

    def __init__(self, corpora, data, args=(), wrap=None, log="server.log"):
        self.port = free_port()
        argv = [CANDOR, "serve", "--corpora", corpora, "--data-dir", data,
                "--addr", f"127.0.0.1:{self.port}", *args]
        if wrap:
            argv = ["unshare", "-rm", "sh", "-c", wrap, "sh", *argv]
        env = dict(os.environ, CANDOR_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
        self.log = os.path.join(WORK, log)
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        deadline = time.monotonic() + 120
        while request(self.port, "GET", "/readyz", timeout=2)[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the server never became ready: {open(self.log).read()[-2000:]}")
            time.sleep(0.1)
        self.ready_at = time.monotonic()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait()


class Load:
    """Asks QUESTION of `corpus` without pause on one client thread; keeps
    (status, answer status, generation, answer_id present, warning) per request."""

    def __init__(self, port, corpus):
        self.port, self.corpus, self.results = port, corpus, []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            status, a, _ = request(self.port, "POST", "/v1/answer",
                                   {"question": QUESTION, "corpus": self.corpus})
            if status == 200:
                self.results.append((200, a.get("status"), a.get("generation"),
                                     bool(a.get("answer_id")), bool(a.get("warnings"))))
            else:
                self.results.append((status, None, None, False, False))
                if status == 0:
                    return  # the server is gone; a restart gets a new Load

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.results


def answered(results, generation):
    return sum(1 for s, st, g, _, _ in results if s == 200 and st == "answered" and g == generation)


def generation_of(port, corpus):
    _, a, _ = request(port, "POST", "/v1/answer", {"question": QUESTION, "corpus": corpus})
    return a.get("generation") if isinstance(a, dict) else None


def wait_job(port, job_id, phases=("done", "failed"), limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _, job = admin(port, "GET", f"/admin/jobs/{job_id}")
        if isinstance(job, dict) and job.get("phase") in phases:
            return job
        time.sleep(0.02)
    return {"phase": "never", "job": job_id}


def reindex(port, corpus):
    status, body = admin(port, "POST", f"/admin/corpora/{corpus}/reindex", {"mode": "full"})
    return body.get("job_id") if status == 202 and isinstance(body, dict) else None


def leftovers(generations, served):
    """Generation folders other than the served one, and any .tmp file."""
    left = [g for g in sorted(os.listdir(generations)) if int(g) != served]
    for dirpath, _, files in os.walk(os.path.dirname(generations)):
        left += [f for f in files if f.endswith(".tmp")]
    return left


def fresh(name):
    """An empty work folder for a part, and the data dir in it."""
    root = os.path.join(WORK, name)
    shutil.rmtree(root, ignore_errors=True)
    return root, os.path.join(root, "data")


def kill_during_reindex():
    part = "5. kill -9 during a reindex"
    root, data = fresh("kill")
    c = clinic(root, "slow", '[[sources]]\npath = "odd"\n[sources.parser]\nplugin = "hostile-parser"\n'
                             '[sources.parser.config]\ndo = "content"\n')
    write(os.path.join(c, "odd/fine.txt"), "The clinic has a pharmacy on the ground floor.")
    index(c, data)
    # Parsed until its 2 s deadline: holds the job in its parsing phase.
    write(os.path.join(c, "odd/loop.txt"), "loop")
    server = Server(os.path.join(root, "corpora"), data)
    old = generation_of(server.port, "slow")
    load = Load(server.port, "slow")
    time.sleep(SECONDS / 3)
    job = reindex(server.port, "slow")
    parsing = wait_job(server.port, job, ("parsing", "done", "failed"))
    time.sleep(0.3)
    killed_at = time.monotonic()
    server.stop(signal.SIGKILL)
    before = load.stop()
    server = Server(os.path.join(root, "corpora"), data)
    restart_s = server.ready_at - killed_at
    load = Load(server.port, "slow")
    time.sleep(SECONDS / 3)
    after = load.stop()
    left = leftovers(os.path.join(data, "slow/generations"), old)
    os.remove(os.path.join(c, "odd/loop.txt"))
    again = wait_job(server.port, reindex(server.port, "slow"))
    new = generation_of(server.port, "slow")
    server.stop()
    cut = sum(1 for r in before if r[0] == 0)
    r = {
        "part": part,
        "killed_in_phase": parsing.get("phase"),
        "before_kill_requests": len(before) - cut,
        "before_kill_answered_old_generation": answered(before, old),
        "cut_by_the_kill": cut,
        "restart_to_ready_s": round(restart_s, 2),
        "after_restart_requests": len(after),
        "after_restart_answered_old_generation": answered(after, old),
        "left_behind": left,
        "next_reindex": again.get("phase"),
        "generations": f"{old} -> {new}",
    }
    check(part, r["killed_in_phase"] == "parsing", "the job was not killed mid-way")
    check(part, r["before_kill_answered_old_generation"] == r["before_kill_requests"] > 0,
          "an answer before the kill failed")
    check(part, cut <= 1, "more than the one request in flight was lost")
    check(part, r["after_restart_answered_old_generation"] == len(after) > 0,
          "an answer after the restart failed or came from another generation")
    check(part, not left, f"the killed build left {left}")
    check(part, again.get("phase") == "done" and new == old + 1, "the next reindex did not succeed")
    return r


def full_disk():
    part = "6. full disk during a reindex"
    root, data = fresh("disk")
    os.makedirs(data)
    c = clinic(root, "clinic", docs=60)
    # The data dir is a 256 MiB tmpfs only this server sees; it is indexed there.
    wrap = ('mount -t tmpfs -o size=256m candor-reliability "$DATA" && '
            '"$1" index --corpus "$CORPUS" --data-dir "$DATA" >/dev/null && exec "$@"')
    os.environ.update(DATA=data, CORPUS=c)
    server = Server(os.path.join(root, "corpora"), data, wrap=wrap, log="disk-server.log")
    inside = f"/proc/{server.proc.pid}/root{data}"
    old = generation_of(server.port, "clinic")
    generations = os.path.join(inside, "clinic/generations")
    # What the generation takes on the device (its files are sparse).
    gen_bytes = sum(os.stat(os.path.join(d, f)).st_blocks * 512
                    for d, _, fs in os.walk(os.path.join(generations, f"{old:06}")) for f in fs)
    filler = os.path.join(inside, "filler")

    def leave(room):
        if os.path.exists(filler):
            os.remove(filler)
        st = os.statvfs(inside)
        with open(filler, "wb", buffering=0) as f:
            left_to_fill = st.f_bavail * st.f_frsize - room
            block = b"\0" * (1 << 20)
            try:
                while left_to_fill > 0:
                    f.write(block[: min(len(block), left_to_fill)])
                    left_to_fill -= len(block)
            except OSError:
                # The server wrote meanwhile (its answer log): give back the room.
                f.truncate(max(0, os.fstat(f.fileno()).st_size - room))

    load = Load(server.port, "clinic")
    time.sleep(SECONDS / 4)
    # Room for: not even the tables; the tables but not the vector store's
    # writes; the writes but not the store's mapped files once served.
    rooms, jobs, left = [64 << 10, 700 << 10, 16 << 20], [], []
    for room in rooms:
        leave(room)
        jobs.append(wait_job(server.port, reindex(server.port, "clinic")))
        left += leftovers(generations, old)
    time.sleep(SECONDS / 4)
    during = load.stop()
    os.remove(filler)
    again = wait_job(server.port, reindex(server.port, "clinic"))
    new = generation_of(server.port, "clinic")
    server.stop()
    errors = [j.get("error") or "" for j in jobs]
    r = {
        "part": part,
        "generation_bytes": gen_bytes,
        "room_left_bytes": rooms,
        "jobs": [j.get("phase") for j in jobs],
        # The cause, without the folder's path.
        "job_errors": [e.split(": ", 1)[-1][:90] for e in errors],
        "requests": len(during),
        "answered_serving_generation": answered(during, old),
        # The answer log shares the full disk.
        "answered_unlogged": sum(1 for x in during if x[0] == 200 and not x[3]),
        "left_behind": left,
        "reindex_with_room": again.get("phase"),
        "generations": f"{old} -> {new}",
    }
    for j, e in zip(jobs, errors):
        check(part, j.get("phase") == "failed" and "no space left" in e.lower(),
              f"a job did not fail naming the full disk: {j}")
    check(part, r["answered_serving_generation"] == len(during) > 0,
          "an answer failed or came from another generation")
    check(part, not left, f"the failed build left {left}")
    check(part, again.get("phase") == "done" and new is not None and new > old,
          f"the reindex with room did not succeed: {again}")
    return r


def metric(port, name):
    _, text, _ = request(port, "GET", "/metrics")
    for line in str(text).splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def locked_log():
    part = "7. answer log locked"
    root, data = fresh("locked")
    index(clinic(root, "clinic", docs=3), data)
    server = Server(os.path.join(root, "corpora"), data)
    generation_of(server.port, "clinic")
    lock = sqlite3.connect(os.path.join(data, "feedback.sqlite3"), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    counted = metric(server.port, "candor_answer_log_failures_total")
    load = Load(server.port, "clinic")
    time.sleep(SECONDS / 2)
    during = load.stop()
    lock.execute("ROLLBACK")
    lock.close()
    counted = metric(server.port, "candor_answer_log_failures_total") - counted
    after = [request(server.port, "POST", "/v1/answer", {"question": QUESTION})[1] for _ in range(5)]
    server.stop()
    r = {
        "part": part,
        "requests": len(during),
        "answered_with_a_warning_no_answer_id": sum(1 for x in during if x[0] == 200 and x[1] == "answered" and x[4] and not x[3]),
        "failures_counted": int(counted),
        "logged_again_after": sum(1 for a in after if isinstance(a, dict) and a.get("answer_id")),
    }
    check(part, r["answered_with_a_warning_no_answer_id"] == len(during) > 0,
          "an answer failed, or was given an id the log never took")
    check(part, r["failures_counted"] == len(during), "not every failure was counted")
    check(part, r["logged_again_after"] == 5, "logging did not resume")
    return r


def keys():
    part = "8. API keys"
    root, data = fresh("keys")
    index(clinic(root, "clinic", docs=3), data)
    index(clinic(root, "annex", docs=3), data)
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
    keyfile = os.path.join(root, "keys.toml")
    entries = {
        "widget": f'[[keys]]\nid = "widget"\nsecret_sha256 = "{sha("widget-secret")}"\n'
                  'corpora = ["clinic"]\nrate_per_second = 2\nburst = 3\n',
        "ops": f'[[keys]]\nid = "ops"\nsecret_sha256 = "{sha("ops-secret")}"\n',
    }
    write(keyfile, "".join(entries.values()))
    server = Server(os.path.join(root, "corpora"), data, ["--keys", keyfile])

    def ask(secret, corpus="clinic"):
        h = {"authorization": f"Bearer {secret}"} if secret else {}
        s, body, headers = request(server.port, "POST", "/v1/answer",
                                   {"question": QUESTION, "corpus": corpus}, h)
        code = body.get("error", {}).get("code") if isinstance(body, dict) and s != 200 else None
        return s, code, headers.get("retry-after") or headers.get("Retry-After")

    got = {
        "missing key": ask(None)[:2],
        "wrong key": ask("not-a-secret")[:2],
        "corpus the key may not read": ask("widget-secret", "annex")[:2],
        "allowed corpus": ask("ops-secret", "annex")[:2],
    }
    time.sleep(2)  # the widget's bucket fills again
    burst = [ask("widget-secret") for _ in range(6)]
    got["past the rate (6 at once, burst 3)"] = sorted({b[:2] for b in burst})
    retry = [b[2] for b in burst if b[0] == 429]
    write(keyfile, entries["widget"])
    reload = admin(server.port, "POST", "/admin/keys/reload", {})[0]
    got["revoked by a reload"] = ask("ops-secret", "annex")[:2]
    server.stop()
    want = {
        "missing key": (401, "unauthorized"),
        "wrong key": (401, "unauthorized"),
        "corpus the key may not read": (403, "forbidden"),
        "allowed corpus": (200, None),
        "past the rate (6 at once, burst 3)": [(200, None), (429, "rate_limited")],
        "revoked by a reload": (401, "unauthorized"),
    }
    r = {"part": part, "reload": reload, "retry_after": retry[:1]}
    for case, expected in want.items():
        r[case] = got[case]
        check(part, got[case] == expected, f"{case}: got {got[case]}, want {expected}")
    check(part, reload == 200 and retry and all(retry), "the reload failed, or a 429 had no retry-after")
    return r


for run in (kill_during_reindex, full_disk, locked_log, keys):
    print(json.dumps(run()), flush=True)
for f in failures:
    print(f, file=sys.stderr)
sys.exit(1 if failures else 0)

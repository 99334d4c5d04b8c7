"""
A simulated human at a terminal, for the doc tests: runs a command on a pseudo-terminal and,
whenever the output ends in a prompt it knows (a passphrase, a secret, ssh-keygen's file
question), types the answer, as a person following the README would.

usage: python3 terminal.py SPEC_JSON
  SPEC_JSON: {"argv": [...], "cwd": "...", "env": {...}, "timeout": seconds, "columns": 100,
              "answers": [{"prompt": "<python regex, matched at the end of the output>", "send": "..."}]}
prints JSON: {"code": exit code or null on timeout, "out": the terminal transcript, "answered": [prompts]}
"""
import fcntl, json, os, pty, re, select, struct, sys, termios, time

spec = json.loads(sys.argv[1])
# a prompt matches at the end of the output (the cursor waits there), unless "anchor": false (a
# full-screen prompt that draws below its question); "once": true answers it one time only
answers = [(re.compile(a["prompt"] + (r"\s*$" if a.get("anchor", True) else ""), re.S), a["send"], a.get("once", False)) for a in spec["answers"]]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, spec.get("columns", 100), 0, 0))
    os.chdir(spec["cwd"])
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])

buf, answered_at, answered = b"", 0, []
deadline = time.time() + spec["timeout"]
code = None
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        # only output since the last answer can hold a new prompt
        tail = ANSI.sub("", buf[answered_at:].decode("utf8", "replace").replace("\r", ""))
        for n, (pattern, send, once) in enumerate(answers):
            m = pattern.search(tail)
            if m:
                if once:
                    answers[n] = (re.compile(r"(?!)"), send, once)
                time.sleep(0.05)
                # `\1` in the answer is the prompt's first group (e.g. the key a secret is for)
                text = m.expand(send)
                # the Enter key separately, as a person types: some prompts read the line before the key
                if len(text) > 1 and text.endswith("\r"):
                    os.write(fd, text[:-1].encode())
                    time.sleep(0.1)
                    text = "\r"
                os.write(fd, text.encode())
                answered.append(pattern.pattern)
                answered_at = len(buf)
                break
    else:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            pid = None
            break
if pid is not None:
    # the terminal closed (or the time ran out): give the child a moment to be reaped, then stop it
    try:
        grace = min(deadline, time.time() + 5)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.time() >= grace:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)
    except ChildProcessError:
        pass
while True:
    ready, _, _ = select.select([fd], [], [], 0)
    if not ready:
        break
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
print(json.dumps({"code": code, "out": buf.decode("utf8", "replace").replace("\r", ""), "answered": answered}))

"""The model builder's sandbox: user code sees a read-only view of what Python needs, and nothing else.

``python -m kafkaml.sandbox [--hide PATH]... -- COMMAND [ARG]...`` runs COMMAND in new user,
mount, network, IPC, UTS and PID namespaces, where:

* the **root** is a fresh read-only tmpfs holding read-only, nosuid, nodev bind mounts of the
  system directories (:data:`SYSTEM_PATHS`), of the Python installation and virtualenv running
  this module and of the ``kafkaml`` package, and nothing else of the host: no home directory,
  no ``/run``, ``/var``, ``/srv`` or ``/work``, no run directory or key file. A ``--hide`` path
  that still falls inside the view is covered (an empty tmpfs, or ``/dev/null`` for a file);
* the only writable place is :data:`SCRATCH`, a tmpfs of :data:`SCRATCH_BYTES` that is the
  command's working directory and disappears with it;
* ``/dev`` holds only :data:`DEVICES`; ``/proc`` shows only the sandbox's processes and its
  ``/proc/sys`` is read-only; ``/sys`` is a fresh read-only sysfs;
* no filesystem Unix socket of the host is reachable (none is in the view; ``connect`` on a
  socket needs no write access to its mount, so hiding is what works), abstract sockets belong to
  the new network namespace, whose only interface is a loopback that is down;
* COMMAND runs as uid and gid :data:`SANDBOX_ID` without capabilities (none effective, permitted,
  inheritable, ambient or in the bounding set), with ``no_new_privs``
  and a session keyring of its own (the inherited one would let it read the caller's keys), and
  cannot create user namespaces of its own (so it cannot gain the capabilities that would let it
  remount the view).

Who COMMAND is to the kernel: where the platform runs as root (a container, this project's
development machines), the sandbox's uid is the host's uid :data:`SANDBOX_ID` too, which owns
nothing of the platform's: even a path of the platform's user that were writable, or a socket
it listens on, stays closed to it. An unprivileged platform user may map only its own uid into a
user namespace (other uids need the setuid ``newuidmap`` and ``/etc/subuid``), so there the
code keeps that user's kernel uid, and the read-only view, which the code has no capability to
change, is what keeps that user's files unwritable and its sockets out of sight.

How (:func:`start`): this process (in the host's namespaces) forks a child that unshares the
namespaces and waits until this process has written its uid and gid maps (a process cannot map
another user than its own from inside). The child forks the new PID namespace's first process,
which builds the view (``pivot_root`` into it, the old root detached), drops to
:data:`SANDBOX_ID` with every capability dropped and execs COMMAND. Exit codes and deaths by
signal are passed up unchanged; a failure to set the sandbox up is reported on stderr with exit
code :data:`SETUP_FAILED`, before any of COMMAND runs. The view is mounted over the working
directory (in the sandbox's mount namespace only), so run it in a directory of the caller's own
outside the view, such as a fresh temporary directory.

The warm builder (:mod:`kafkaml.warm_builder`) runs the same steps from a fork of a process that
has imported TensorFlow, and runs Python code of that process instead of an exec
(``start(..., in_process=True)``): the first process then also closes every descriptor but 0,
1 and 2 and resets the caller's signal handlers, what the exec would have done. That it drops
the capabilities itself, rather than leaving that to the exec, matters there: an unprivileged
platform user's sandbox runs as the namespace's only (and so its creating) uid and would keep
them until an exec. Memory is the one thing an exec would renew and this cannot: so only a
process that holds nothing of anyone's may start in-process sandboxes.
Linux 5.12 or newer (``mount_setattr``) on x86-64 or arm64 (``pivot_root``'s number).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import os
import platform
import resource
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: The user and group id the command runs as ("nobody"/"nogroup" on most distributions).
SANDBOX_ID = 65534
#: The command's only writable directory (its working directory).
SCRATCH = "/tmp"
SCRATCH_BYTES = 64 * 1024 * 1024
#: Exit code of a sandbox that could not be set up (the command did not run).
SETUP_FAILED = 97
#: Directories every dynamically linked program may need; those missing here are skipped.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
_MNT_DETACH = 0x2
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_PR_SET_PDEATHSIG, _PR_SET_NAME, _PR_SET_NO_NEW_PRIVS = 1, 15, 38
_PR_CAPBSET_DROP, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture but alpha
#: System calls without a C library wrapper whose numbers differ between architectures.
_SYSCALLS = {"x86_64": {"pivot_root": 155, "keyctl": 250}, "aarch64": {"pivot_root": 41, "keyctl": 219}}
_KEYCTL_JOIN_SESSION_KEYRING = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class SetupError(OSError):
    """A step of setting the sandbox up failed; the message names the step."""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):  # capset(2) takes two of these (capabilities 0-31 and 32-63)
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kafkaml.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--hide", action="append", default=[], metavar="PATH",
                        help="an absolute path to cover if it falls inside the view (repeatable)")
    parser.add_argument("command", nargs="+", help="the program and its arguments (after --)")
    args = parser.parse_args(argv)
    return _wait(start(args.hide, functools.partial(_execute, args.command)))


def start(hidden: Sequence[str], body: Callable[[], object], *, in_process: bool = False) -> int:
    """Run ``body`` in a new sandbox; the pid to wait for, of the process that stays in the caller's
    namespaces and ends as the sandboxed process ends (its exit code, or death by its signal).

    ``body`` runs in the PID namespace's first process once it is in the view and has dropped its
    privileges, and must not return: :func:`main` passes an ``exec`` of the command. With
    ``in_process`` it is Python code of this interpreter instead (the warm builder's fork,
    :mod:`kafkaml.warm_builder`), and that process first does what an ``exec`` would have done
    for it (:func:`_as_if_executed`): no descriptor but 0, 1 and 2 left open, no Python signal
    handler of the caller's left installed. The caller must be single-threaded (the kernel
    refuses a user namespace to a multithreaded process): a fork of a threaded process is.
    """
    view = _view_paths()
    unshared_r, unshared_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    caller = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            os.close(unshared_r)
            os.close(mapped_w)
            _setup_or_exit(lambda: _leave_the_group(caller))
            _setup_or_exit(_unshare)
            os.write(unshared_w, b"1")
            os.close(unshared_w)
            if os.read(mapped_r, 1) != b"1":
                _exit_failed("the parent could not write the sandbox's uid and gid maps")
            os.close(mapped_r)
            os._exit(_run_first_process(view, hidden, body, in_process))
        except BaseException as exc:  # noqa: BLE001 a fork never unwinds into its caller's code
            _exit_failed(f"{type(exc).__name__}: {exc}")
    os.close(unshared_w)
    os.close(mapped_r)
    if os.read(unshared_r, 1) == b"1":
        try:
            _map_ids(child)
            os.write(mapped_w, b"1")
        except OSError as exc:
            print(f"kafkaml sandbox: mapping the sandbox's user: {exc}", file=sys.stderr, flush=True)
    os.close(unshared_r)
    os.close(mapped_w)
    return child


def _execute(command: Sequence[str]) -> None:
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        _exit_failed(f"running {command[0]}: {exc.strerror}")


def _view_paths() -> list[str]:
    """What the view binds, outermost first: the system directories, then the Python installation,
    the virtualenv and this package, each at the path Python knows it by and at its real path."""
    package = Path(__file__).resolve().parent
    wanted = [*SYSTEM_PATHS]
    for path in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix, str(package)):
        wanted += [os.path.abspath(path), os.path.realpath(path)]
    kept: list[str] = []
    for path in sorted(set(wanted), key=lambda item: (item.count("/"), item)):
        if os.path.lexists(path) and not any(_within(path, other) for other in kept):
            kept.append(path)
    return kept


def _leave_the_group(caller: int) -> None:
    """Leave the caller's process group and take SIGTERM when the caller dies (:func:`_run_first_process`
    then kills the sandbox). A timeout kills the caller's group: the sandboxed code, which can leave
    any process group (``setsid``) and clear its own parent-death signal, is not to be found that
    way, but the PID namespace ends with its first process, and this process kills that one."""
    os.setpgid(0, 0)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != caller:  # the caller died before the line above
        raise SetupError(0, "the caller ended before the sandbox was set up")


def _unshare() -> None:
    flags = _CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWPID
    _call(_libc.unshare(ctypes.c_int(flags)), "creating user, mount, network, IPC, UTS and PID namespaces")


def _map_ids(child: int) -> None:
    """Map :data:`SANDBOX_ID` to the host's uid 65534 where this process may (root), else to its own
    uid; root keeps its own uid 0 mapped to 0 too, to build the view before dropping to the sandbox's."""
    uid, gid = os.geteuid(), os.getegid()
    proc = Path(f"/proc/{child}")
    if uid == 0:
        (proc / "uid_map").write_text(f"0 0 1\n{SANDBOX_ID} {SANDBOX_ID} 1\n")
        (proc / "gid_map").write_text(f"0 0 1\n{SANDBOX_ID} {SANDBOX_ID} 1\n")
    else:
        (proc / "setgroups").write_text("deny")  # the kernel's condition for an unprivileged gid map
        (proc / "uid_map").write_text(f"{SANDBOX_ID} {uid} 1\n")
        (proc / "gid_map").write_text(f"{SANDBOX_ID} {gid} 1\n")


def _run_first_process(view: list[str], hidden: Sequence[str], body: Callable[[], object], in_process: bool) -> int:
    """Fork the PID namespace's first process (this one stays outside it), which runs ``body``; kill
    it (and with it the namespace) on SIGTERM, which the caller's death sends (:func:`_leave_the_group`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until the handler knows whom to kill
    first = os.fork()
    if first == 0:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # kept across an exec otherwise
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            _setup_or_exit(lambda: _enter_view(view, hidden))
            _setup_or_exit(_drop_privileges)
            if in_process:
                _as_if_executed()
            body()
        except BaseException as exc:  # noqa: BLE001 a fork never unwinds into its caller's code
            _exit_failed(f"{type(exc).__name__}: {exc}")
        _exit_failed("the sandboxed body returned")  # it execs or exits; never back into this code
    pidfd = os.pidfd_open(first)  # not its pid: once reaped, that may be another process's

    def kill_the_namespace(_signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_the_namespace)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return _wait(first)


def _as_if_executed() -> None:
    """What ``exec`` does to a process that in-process sandboxed code must not miss: descriptors
    other than 0, 1 and 2 closed (they are the caller's: its socket to the platform, a directory
    of the host's, through which ``openat`` would lead out of the view), and the caller's Python
    signal handlers replaced by the default. Memory is the caller's, which is why only a process
    that holds nothing of anyone's may start in-process sandboxes."""
    os.closerange(3, open_max())
    for number in signal.valid_signals():
        handler = signal.getsignal(number)
        if callable(handler) and handler is not signal.default_int_handler:
            signal.signal(number, signal.SIG_DFL)
    set_name(os.path.basename(sys.executable))  # the caller's may say whom it works for


def set_name(name: str) -> None:
    """This process's name (``comm``: what ``ps`` shows, at most 15 bytes)."""
    _libc.prctl(ctypes.c_int(_PR_SET_NAME), ctypes.c_char_p(name.encode()[:15]), ctypes.c_ulong(0),
                ctypes.c_ulong(0), ctypes.c_ulong(0))


def open_max() -> int:
    """One more than the highest descriptor this process may have open."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return limit if limit != resource.RLIM_INFINITY else 1 << 20


def _enter_view(view: list[str], hidden: Sequence[str]) -> None:
    """Build the view on a tmpfs mounted over the working directory (the caller's fresh temporary
    directory), switch root into it and detach the host's root."""
    os.umask(0o022)
    root = os.getcwd()
    if any(_within(root, path) or _within(path, root) for path in view):
        raise SetupError(0, f"the working directory {root} must lie outside the view (it is mounted over)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing done here propagates to the host
    _mount("kafkaml-sandbox", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
    # The scratch first: a view path under /tmp (a checkout there) is bound on top of it, not hidden by it.
    for directory in ("proc", "sys", SCRATCH.strip("/")):
        os.makedirs(f"{root}/{directory}", exist_ok=True)
    _mount("proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount("sysfs", root + "/sys", "sysfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount("kafkaml-scratch", root + SCRATCH, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"mode=1777,size={SCRATCH_BYTES}")
    for path in view:
        target = root + path
        if os.path.islink(path):  # e.g. /bin -> usr/bin on a merged-/usr system
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)
        else:
            _bind_read_only(path, target, devices=False)
    os.makedirs(root + "/dev")
    for device in DEVICES:
        _bind_read_only(f"/dev/{device}", f"{root}/dev/{device}", devices=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.chdir(root)
    _call(_libc.syscall(ctypes.c_long(_syscall_number("pivot_root")), b".", b"."), "switching root into the view")
    _call(_libc.umount2(b".", ctypes.c_int(_MNT_DETACH)), "detaching the host's root")
    os.chdir("/")
    for path in hidden:
        _cover(path)
    _mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    Path("/proc/sys/user/max_user_namespaces").write_text("0")  # none below this one
    _bind_read_only("/proc/sys", "/proc/sys", devices=False)
    os.chdir(SCRATCH)


def _drop_privileges() -> None:
    """Become :data:`SANDBOX_ID` with no capability and no way to regain any. The effective and
    permitted ones would go with the uid change (a platform running as root) or at the next
    ``exec`` (an unprivileged platform user, whose only mapped uid this already is), but in-process
    sandboxed code never execs: they are dropped here, the bounding set first (that needs one)."""
    if os.getuid() == 0:  # the namespace's root: a platform running as root (otherwise setgroups is denied)
        os.setgroups([])
    for capability in range(int(Path("/proc/sys/kernel/cap_last_cap").read_text()) + 1):
        _prctl(_PR_CAPBSET_DROP, capability)
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    os.setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)
    os.setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)
    header = _CapHeader(version=_LINUX_CAPABILITY_VERSION_3, pid=0)
    _call(_libc.capset(ctypes.byref(header), (_CapData * 2)()), "dropping every capability")
    # The session keyring is inherited, and its possessor may read the keys in it: start a new one.
    _call(_libc.syscall(ctypes.c_long(_syscall_number("keyctl")), ctypes.c_int(_KEYCTL_JOIN_SESSION_KEYRING),
                        ctypes.c_char_p(None)), "joining a session keyring of its own")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid clears it


def _bind_read_only(source: str, target: str, *, devices: bool) -> None:
    """Bind ``source`` (recursively) at ``target``, read-only and nosuid, nodev unless ``devices``."""
    if source != target:  # a mount point in the view
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
    _mount(source, target, None, _MS_BIND | _MS_REC)
    attributes = _MountAttr(attr_set=_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | (0 if devices else _MOUNT_ATTR_NODEV))
    _call(_libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(_AT_FDCWD), target.encode(),
                        ctypes.c_uint(_AT_RECURSIVE), ctypes.byref(attributes), ctypes.c_size_t(ctypes.sizeof(attributes))),
          f"making {target} read-only")


def _cover(path: str) -> None:
    if os.path.isdir(path):
        _mount("kafkaml-hidden", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k,mode=000")
    elif os.path.lexists(path):
        _mount("/dev/null", path, None, _MS_BIND)


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _syscall_number(name: str) -> int:
    machine = platform.machine()
    if machine not in _SYSCALLS:
        raise SetupError(0, f"{name}: unsupported architecture {machine}")
    return _SYSCALLS[machine][name]


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    _call(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
          f"mounting {fstype or source} on {target}")


def _prctl(option: int, value: int) -> None:
    _call(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                      ctypes.c_ulong(0)), f"prctl {option}")


def _call(result: int, what: str) -> None:
    if result < 0:
        number = ctypes.get_errno()
        raise SetupError(number, f"{what}: {os.strerror(number)}")


def _setup_or_exit(step) -> None:
    try:
        step()
    except OSError as exc:
        _exit_failed(str(exc.strerror if isinstance(exc, SetupError) else exc))


def _exit_failed(message: str) -> None:
    print(f"kafkaml sandbox: {message}", file=sys.stderr, flush=True)
    os._exit(SETUP_FAILED)


def _wait(pid: int) -> int:
    """Wait for ``pid`` and end the same way: its exit code, or death by its signal."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())


#: Largest file a build may write (its output and log are files in its work directory).
FILE_LIMIT_BYTES = 64 * 1024 * 1024
#: Processes and threads a build may add (TensorFlow starts a thread pool per core). The kernel
#: counts RLIMIT_NPROC over all tasks of the user, so the limit is set this far above their number.
PROCESS_LIMIT = 512


def tasks_of_this_user() -> int:
    """Processes and threads running under this user id (what RLIMIT_NPROC counts)."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:  # the process ended meanwhile
                continue
    return count


def set_limits(cpu_s: float, memory_mb: int, processes: int) -> None:
    """A build's resource limits on this process and what it starts (a fresh build's child sets
    them before it executes the sandbox, a warm build's fork before it enters it)."""
    cpu = max(1, int(cpu_s))
    for kind, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 5), (resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20),
                             (resource.RLIMIT_FSIZE, FILE_LIMIT_BYTES, FILE_LIMIT_BYTES),
                             (resource.RLIMIT_NPROC, processes, processes), (resource.RLIMIT_CORE, 0, 0)):
        ceiling = resource.getrlimit(kind)[1]  # an unprivileged process cannot raise its hard limit
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(kind, (soft, hard))

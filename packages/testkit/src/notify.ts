/**
 * A stand-in for systemd's notify socket: an AF_UNIX datagram socket bound at a path, whose
 * every datagram (sd_notify(3): "READY=1", "STATUS=…", "WATCHDOG=1", "STOPPING=1") becomes one
 * line of the receiver's output. Node cannot bind AF_UNIX datagram sockets, so the socket is held
 * by a small python3 process of the lab (stopped with it). Give the path to the process under
 * test as NOTIFY_SOCKET.
 */
import type { Lab } from "./lab.ts";
import type { LabProcess } from "./process.ts";
import { DEFAULT_WAIT_MS } from "./wait.ts";

/** A notify socket and what it received. */
export interface NotifyReceiver {
  /** The socket's path: the NOTIFY_SOCKET to give. */
  readonly path: string;
  /** The process holding it (its output is the messages, one per line). */
  readonly process: LabProcess;
  /** The messages so far, in order (a newline inside one is shown as "\n"). */
  messages(): string[];
}

const RECEIVER = [
  "import socket, sys",
  "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
  "s.bind(sys.argv[1])",
  "print('bound', flush=True)",
  "while True:",
  "    print(s.recv(4096).decode(errors='replace').replace('\\n', '\\\\n'), flush=True)",
].join("\n");

/** Binds a notify socket at `socketPath` (in the lab's directory, say); resolves once it is bound. */
export async function startNotifyReceiver(lab: Lab, socketPath: string, timeoutMs = DEFAULT_WAIT_MS): Promise<NotifyReceiver> {
  const proc = lab.spawn(null, ["python3", "-u", "-c", RECEIVER, socketPath], { name: "notify socket" });
  await proc.waitForLog(/^bound$/, { timeoutMs });
  return {
    path: socketPath,
    process: proc,
    messages: () => proc.output.split("\n").filter((l) => l !== "" && l !== "bound"),
  };
}

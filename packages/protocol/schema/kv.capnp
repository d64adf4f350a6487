# The KV protocol between a calf (or an operator) and the priv's store.
# Wire-compatible with the original LinuxKit design: same file id, same ordinals.
# New capabilities are added only as new fields or union members, with new ordinals.
@0x9e83562906de8259;

# One request per message. `id` is chosen by the client and echoed in the response,
# so requests may be pipelined on one connection.
struct Request {
  id @0 :Int32;
  # The path as segments: "/nameserver/001" is ["nameserver", "001"].
  path @1 :List(Text);
  union {
    # Write a value (UTF-8 text in its canonical form, e.g. "10.0.0.5/24").
    write @2 :Data;
    read @3 :Void;
    delete @4 :Void;

    # Extensions (Paddock). Admin rights only unless a schema says otherwise.
    # List the keys under `path` (a prefix); answered with `paths`.
    list @5 :Void;
    # Subscribe to changes under `path` (a prefix): answered with `ok` (empty), then one
    # `event` response with the same id per change, in commit order, until the connection closes.
    watch @6 :Void;
    # Read the last N lines of the audit log (0: as many as fit in one response); answered
    # with `ok` carrying JSON lines.
    audit @7 :UInt32;
    # Apply several changes atomically: validated together, applied all or none under one
    # sequence number, persisted once, delivered to each watcher as one commit. The changes carry
    # their own paths; the request's `path` must be empty. Answered with `ok` (empty) or `error`
    # naming the first change that was refused.
    commit @8 :Commit;
    # Admin rights only: the priv's own view of the service behind this socket, which the store
    # does not hold (its calf's state and restarts, its handlers' states); answered with `ok`
    # carrying one JSON object (docs/kv.md). The request's `path` must be empty.
    info @9 :Void;
  }
}

# The changes of one atomic commit, applied in order; a path may appear only once.
struct Commit {
  changes @0 :List(Change);
}

# One change of a commit: write a value to a path, or delete the key.
struct Change {
  path @0 :List(Text);
  union {
    write @1 :Data;
    delete @2 :Void;
  }
}

struct Response {
  id @0 :Int32;
  union {
    # The value for a read; empty for a write or delete.
    ok @1 :Data;
    # UTF-8 "CODE: message", with a stable code such as PADDOCK_E_KV_FORBIDDEN.
    error @2 :Data;

    # Extensions (Paddock).
    # The answer to `list`: full paths of the keys under the prefix, sorted.
    paths @3 :List(Text);
    # One change delivered to a `watch`. A commit of several changes under the prefix arrives as
    # several consecutive events with the same `seq`: a client groups them by seq.
    event @4 :Event;
  }
}

# A committed change to the store.
struct Event {
  # Commit sequence number: strictly increasing for the store's lifetime, shared by every change
  # of one commit.
  seq @0 :UInt64;
  path @1 :List(Text);
  union {
    written @2 :Data;
    deleted @3 :Void;
  }
}

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
    # One change delivered to a `watch`.
    event @4 :Event;
  }
}

# A committed change to the store.
struct Event {
  # Commit sequence number: strictly increasing for the store's lifetime.
  seq @0 :UInt64;
  path @1 :List(Text);
  union {
    written @2 :Data;
    deleted @3 :Void;
  }
}

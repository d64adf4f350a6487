# The data path between the priv and a calf (fd 4): frames and datagrams with their kernel
# receive timestamps, and link state. The calf never holds a network socket; the priv relays
# what its kernel filter lets through and sends what passes the calf's egress policy.
@0x994ceea5df317d09;

# One message on the data channel, either direction.
struct DataMessage {
  union {
    # priv → calf: a frame the service's filter passed. calf → priv: a frame to send.
    frame @0 :Frame;
    # UDP services (NTP): a datagram and its peer, either direction.
    datagram @1 :Datagram;
    # priv → calf: the link's state, sent at start and on every change.
    link @2 :LinkState;
    # priv → calf: the kernel's transmit time of a datagram the calf tagged (Datagram.sendTag).
    txTime @3 :TxTime;
  }
}

struct Frame {
  # The whole Ethernet frame.
  data @0 :Data;
  # Kernel receive time (SO_TIMESTAMPNS), ns since the Unix epoch; 0 on frames to send.
  rxTimeNs @1 :UInt64;
  # The kernel has not completed the transport checksum (PACKET_AUXDATA TP_STATUS_CSUMNOTREADY:
  # a frame from a local veth or tap with checksum offload); do not verify the UDP checksum.
  checksumPending @2 :Bool;
}

struct Datagram {
  data @0 :Data;
  # Dotted-quad (or IPv6 text) address and port of the peer: source on receive, destination on send.
  peerAddress @1 :Text;
  peerPort @2 :UInt16;
  rxTimeNs @3 :UInt64;
  # calf → priv: a number the calf chose (0: none). When the service's UDP channel has transmit
  # timestamps and the kernel gives one for this datagram, the priv answers with a TxTime carrying
  # the same tag. Unused (0) on received datagrams.
  sendTag @4 :UInt32;
}

# The kernel's software transmit timestamp of one tagged datagram (for NTP's T1).
struct TxTime {
  # The calf's tag from the Datagram it sent (never 0).
  sendTag @0 :UInt32;
  # When the datagram was handed to the device driver (SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE),
  # ns since the Unix epoch: the same clock as rxTimeNs.
  txTimeNs @1 :UInt64;
}

struct LinkState {
  up @0 :Bool;
  # Operational state has carrier (IFF_LOWER_UP).
  carrier @1 :Bool;
  mtu @2 :UInt32;
}

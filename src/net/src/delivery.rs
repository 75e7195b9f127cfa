//! Reply delivery to a client that may have no address yet (RFC 951 §4, RFC 1542 §5.4,
//! RFC 2131 §4.1). Shared by the server and the relay. Owned by the server work.

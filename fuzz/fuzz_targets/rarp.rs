//! The RARP server core (RFC 903): any frame is answered, ignored or refused without panic.
#![no_main]
use std::collections::HashMap;
use std::net::Ipv4Addr;

use bootlab_rarp::server::Server;
use bootlab_wire::ethernet::Address;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let table = HashMap::from([(Address([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(192, 0, 2, 50))]);
    let s = Server::new(
        Address([2, 0, 0, 0, 0, 0x99]),
        Ipv4Addr::new(192, 0, 2, 1),
        table,
    );
    let _ = s.handle_frame(data);
});

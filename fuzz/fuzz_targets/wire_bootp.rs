//! BOOTP/DHCP message codec (RFC 951, RFC 2131/2132, RFC 3046 sub-options): lenient parse never
//! panics; what parses re-emits and parses again.
#![no_main]
use bootlab_wire::bootp::{parse_relay_agent_information, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, _)) = Message::parse(data) {
        let again = m.emit();
        let _ = Message::parse(&again);
        let _ = m.message_type();
        let _ = m
            .options()
            .map(|o| (o.client_identifier(), o.parameter_request_list()));
    }
    let _ = parse_relay_agent_information(data);
});

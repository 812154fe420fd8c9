//! The stop at a request boundary: at once between requests, after the frame or reply
//! under way otherwise, and after one more frame for a client that always has one.

use super::*;

#[test]
fn a_stop_between_requests_closes_at_once() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &request(CommandName::Echo, 1, b"a"), t0);
    drain(&mut s, t0);
    assert!(s.at_boundary());
    s.stop(t0);
    assert_closed_cleanly(&mut s);
    assert_eq!(s.take_served(), 1);
}

#[test]
fn a_frame_half_received_at_the_stop_is_finished_answered_then_closed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let wire = request(CommandName::Echo, 1, b"half");
    feed(&mut s, &wire[..5], t0);
    s.stop(t0);
    assert!(actions(&mut s).is_empty() && s.wants_read() && !s.at_boundary());
    feed(&mut s, &wire[5..], t0 + SEC);
    assert!(actions(&mut s).is_empty(), "the reply goes out first");
    assert_ok(&drain(&mut s, t0 + SEC), 1, b"half");
    assert_closed_cleanly(&mut s);
    assert_eq!(s.take_served(), 1);
}

#[test]
fn a_reply_being_written_at_the_stop_is_finished_then_closed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &request(CommandName::Echo, 1, b"reply"), t0);
    s.wrote(3, t0);
    s.stop(t0);
    assert!(actions(&mut s).is_empty() && !s.at_boundary());
    drain(&mut s, t0);
    assert_closed_cleanly(&mut s);
}

#[test]
fn a_sleep_under_way_at_the_stop_is_answered_then_closed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &sleep(1, 100), t0);
    s.stop(t0);
    assert!(actions(&mut s).is_empty());
    s.handle_timeout(t0 + SEC);
    assert_eq!(response(&drain(&mut s, t0 + SEC)).0.id, 1);
    assert_closed_cleanly(&mut s);
}

#[test]
fn a_pipelining_client_is_closed_once_one_more_frame_is_answered() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let third = request(CommandName::Echo, 3, b"three");
    let fourth = request(CommandName::Echo, 4, b"four");
    let mut wire = request(CommandName::Echo, 1, b"one");
    wire.extend(request(CommandName::Echo, 2, b"two"));
    wire.extend(&third[..4]);
    feed(&mut s, &wire, t0);
    s.stop(t0);
    // The frames already received are answered; the half frame is waited for.
    let ids: Vec<u64> = responses(&drain(&mut s, t0))
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    assert_eq!(ids, [1, 2]);
    assert!(actions(&mut s).is_empty() && s.wants_read());
    // It completes with the next frame already under way: answered, then closed.
    feed(&mut s, &[&third[4..], &fourth[..6]].concat(), t0);
    assert_ok(&drain(&mut s, t0), 3, b"three");
    assert_closed_cleanly(&mut s);
    assert_eq!(s.take_served(), 3);
}

#[test]
fn a_stop_while_lingering_changes_nothing() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &[1, 0, 0, 0, b'{'], t0);
    drain(&mut s, t0);
    actions(&mut s);
    s.stop(t0);
    assert!(actions(&mut s).is_empty() && s.at_boundary());
    s.handle_timeout(t0 + SEC);
    assert_closed_cleanly(&mut s);
}

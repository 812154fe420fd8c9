//! The shaping rules on simulated time, without sockets: holds keep the order, the
//! queue stays bounded, the bucket paces, slices, the stall, the slow close.

use super::*;
use crate::proxy::Impairments;

fn way(specs: &[&str]) -> WayImpairments {
    let mut imp = Impairments::default();
    for spec in specs {
        imp.add(spec).unwrap();
    }
    imp.up
}

fn shaper(specs: &[&str], limit: usize, now: Instant) -> Shaper {
    let w = way(specs);
    Shaper::new(w, Impairer::new(w, 7, 0, false), limit, now)
}

/// Reads `n` bytes into the shaper at `now` (as many reads as the ring needs).
fn feed(s: &mut Shaper, mut n: usize, now: Instant, tally: &mut Tally) {
    while n > 0 {
        let space = s.read_space().expect("room in the queue").len().min(n);
        s.filled(space, now, tally);
        n -= space;
    }
}

/// Writes everything out, jumping the clock to each wait: every write's time and size.
fn drain(s: &mut Shaper, mut now: Instant, tally: &mut Tally) -> Vec<(Instant, usize)> {
    let mut writes = Vec::new();
    for _ in 0..100_000 {
        match s.next(now, tally) {
            Next::Write(n) => {
                assert!(n > 0 && n <= s.front().len());
                s.wrote(n, now, tally);
                writes.push((now, n));
            }
            Next::Wait(at) => {
                assert!(at > now, "a wait moves time forward");
                now = at;
            }
            Next::Idle => return writes,
        }
    }
    panic!("the shaper never ran dry");
}

#[test]
fn jittered_chunks_are_released_in_order_and_no_earlier_than_the_latency_less_jitter() {
    let t0 = Instant::now();
    let mut s = shaper(&["latency=10ms", "jitter=8ms"], 1 << 16, t0);
    let mut tally = Tally::default();
    for i in 0..200u32 {
        let at = t0 + Duration::from_micros(u64::from(i) * 100);
        feed(&mut s, 10, at, &mut tally);
    }
    assert_eq!((tally.delayed, tally.delayed_bytes), (200, 2000));
    let writes = drain(&mut s, t0, &mut tally);
    assert_eq!(writes.iter().map(|w| w.1).sum::<usize>(), 2000);
    assert!(writes.windows(2).all(|w| w[0].0 <= w[1].0), "order kept");
    assert!(
        writes[0].0 >= t0 + Duration::from_millis(2),
        "{:?}",
        writes[0].0 - t0
    );
}

#[test]
fn the_queue_stops_taking_bytes_when_full() {
    let t0 = Instant::now();
    let mut s = shaper(&["latency=1s"], 1000, t0);
    let mut tally = Tally::default();
    let mut held = 0;
    while let Some(space) = s.read_space() {
        let n = space.len().min(300);
        s.filled(n, t0, &mut tally);
        held += n;
    }
    assert_eq!(held, 1000);
    assert_eq!(
        s.next(t0, &mut tally),
        Next::Wait(t0 + Duration::from_secs(1))
    );
    // Writing some frees room again.
    let later = t0 + Duration::from_secs(1);
    let Next::Write(n) = s.next(later, &mut tally) else {
        panic!("due");
    };
    s.wrote(n.min(200), later, &mut tally);
    assert_eq!(s.read_space().map(|b| b.len()), Some(200));
}

#[test]
fn many_tiny_chunks_are_bounded_too() {
    let t0 = Instant::now();
    let mut s = shaper(&["jitter=1ms"], 1 << 20, t0);
    let mut tally = Tally::default();
    let mut chunks = 0;
    while s.read_space().is_some() && chunks < 10 * MAX_CHUNKS {
        // 3 ms apart: every chunk has its own release time (none is merged).
        let at = t0 + Duration::from_millis(3 * chunks as u64);
        s.filled(1, at, &mut tally);
        chunks += 1;
    }
    assert_eq!(chunks, MAX_CHUNKS);
}

#[test]
fn the_bucket_paces_a_transfer_to_the_rate_after_the_burst() {
    let t0 = Instant::now();
    // 8 kbit/s = 1000 B/s with a 100 B bucket: 1,100 B take at least one second.
    let mut s = shaper(&["rate=8Kbit,burst=100B"], 1 << 16, t0);
    let mut tally = Tally::default();
    feed(&mut s, 1100, t0, &mut tally);
    let writes = drain(&mut s, t0, &mut tally);
    let end = writes.last().unwrap().0;
    assert!(end >= t0 + Duration::from_secs(1), "{:?}", end - t0);
    assert!(end <= t0 + Duration::from_millis(1100), "{:?}", end - t0);
    assert!(writes.iter().all(|w| w.1 <= 100));
    assert!(tally.throttled >= 10, "{tally:?}");
}

#[test]
fn the_bucket_refills_no_more_than_its_burst() {
    let t0 = Instant::now();
    let mut b = TokenBucket::new(1000, 100, t0);
    assert_eq!(b.available(t0), 100);
    b.spend(100);
    assert_eq!(b.available(t0), 0);
    assert_eq!(b.ready_at(50), t0 + Duration::from_millis(50));
    assert_eq!(b.available(t0 + Duration::from_millis(30)), 30);
    assert_eq!(b.available(t0 + Duration::from_secs(60)), 100);
}

#[test]
fn slices_cut_every_write_and_the_gap_spaces_them() {
    let t0 = Instant::now();
    let mut s = shaper(&["slice=64B,gap=1ms"], 1 << 16, t0);
    let mut tally = Tally::default();
    feed(&mut s, 1000, t0, &mut tally);
    let writes = drain(&mut s, t0, &mut tally);
    assert_eq!(writes.len(), 16, "1000 B in 64 B slices");
    assert!(writes.iter().all(|w| w.1 <= 64));
    assert_eq!(tally.sliced, 16);
    let span = writes.last().unwrap().0 - writes[0].0;
    assert!(span >= Duration::from_millis(15), "{span:?}");
}

#[test]
fn a_stall_stops_the_direction_once_after_its_size_then_it_resumes() {
    let t0 = Instant::now();
    let mut s = shaper(&["stall=after:100B,for:2s"], 1 << 16, t0);
    let mut tally = Tally::default();
    feed(&mut s, 300, t0, &mut tally);
    let writes = drain(&mut s, t0, &mut tally);
    assert_eq!(writes[0], (t0, 100), "exactly the size goes first");
    let rest: usize = writes[1..].iter().map(|w| w.1).sum();
    assert_eq!(rest, 200);
    assert!(
        writes[1..]
            .iter()
            .all(|w| w.0 >= t0 + Duration::from_secs(2))
    );
    assert_eq!(tally.stalled, 1);
    feed(&mut s, 300, t0 + Duration::from_secs(3), &mut tally);
    drain(&mut s, t0 + Duration::from_secs(3), &mut tally);
    assert_eq!(tally.stalled, 1, "once per direction");
}

#[test]
fn close_slowly_holds_the_fin_and_is_counted() {
    let t0 = Instant::now();
    let mut s = shaper(&["close-slowly=500ms"], 1 << 16, t0);
    let mut tally = Tally::default();
    assert_eq!(s.fin_at(), None);
    s.closed(t0, &mut tally);
    assert_eq!(s.fin_at(), Some(t0 + Duration::from_millis(500)));
    assert_eq!(tally.closed_slowly, 1);
    let mut plain = shaper(&["slice=1KiB"], 1 << 16, t0);
    plain.closed(t0, &mut tally);
    assert_eq!((plain.fin_at(), tally.closed_slowly), (Some(t0), 1));
}

#[test]
fn bytes_come_out_as_they_went_in_across_the_ring_edge() {
    let t0 = Instant::now();
    let mut s = shaper(&["slice=7B"], 100, t0);
    let mut tally = Tally::default();
    let mut out = Vec::new();
    let mut next_byte = 0u8;
    for round in 0..50 {
        while let Some(space) = s.read_space() {
            let n = space.len().min(13);
            for b in &mut space[..n] {
                *b = next_byte;
                next_byte = next_byte.wrapping_add(1);
            }
            s.filled(n, t0, &mut tally);
            if round % 2 == 0 {
                break;
            }
        }
        for _ in 0..5 {
            if let Next::Write(n) = s.next(t0, &mut tally) {
                out.extend_from_slice(&s.front()[..n]);
                s.wrote(n, t0, &mut tally);
            }
        }
    }
    let expected: Vec<u8> = (0..out.len()).map(|i| i as u8).collect();
    assert_eq!(out, expected);
    assert!(out.len() > 500, "{}", out.len());
}

#[test]
fn a_backlog_woken_a_millisecond_late_every_time_still_gets_its_rate() {
    // 10 Mbit/s with the default 10 ms burst; every wait ends 1 ms after it asked to,
    // as a loop whose timers round up to the millisecond does. Over one simulated
    // second the direction must still move (nearly) its rate: a waiter that asked for a
    // full bucket would lose each lateness to the cap and reach only ~91%.
    let rate = 1_250_000u64;
    let start = Instant::now();
    let mut bucket = TokenBucket::new(rate, rate / 100, start);
    let (mut now, mut sent) = (start, 0u64);
    let end = start + Duration::from_secs(1);
    while now < end {
        let tokens = bucket.available(now);
        if tokens == 0 {
            now = bucket.ready_at(64 * 1024) + Duration::from_millis(1);
        } else {
            bucket.spend(tokens);
            sent += tokens as u64;
        }
    }
    // The burst the bucket started with comes on top of the second's rate.
    assert!(sent >= rate * 97 / 100, "{sent} B in 1 s at {rate} B/s");
    assert!(
        sent <= rate + rate / 100 + 1,
        "{sent} B in 1 s at {rate} B/s"
    );
}

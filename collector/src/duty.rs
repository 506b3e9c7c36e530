//! The duty (shift) log: who is on watch, handover notes and notes made
//! during a shift. The console's Duty view reads and writes it; every entry
//! is also an audit record. The HTTP handlers are in `api/duty.rs`, the SQL in `store/duty.rs`.

use shouwang_proto::{DutyEntry, DutyKind, DutyView};

/// Entries read to build the view (a shift rarely writes more).
pub const MAX_DUTY_ENTRIES: u32 = 500;

/// Longest text of an entry, bytes.
pub const MAX_DUTY_TEXT: usize = 8192;

/// Builds the view from entries newest first: on duty is the newest
/// `start` unless an `end` came after it; the entries are the current
/// shift's and the previous shift's.
pub fn duty_view(newest_first: Vec<DutyEntry>) -> DutyView {
    let mut on_duty = None;
    let mut starts = 0;
    let mut keep = newest_first.len();
    let mut ended = false;
    for (i, e) in newest_first.iter().enumerate() {
        match e.kind {
            DutyKind::End if starts == 0 => ended = true,
            DutyKind::Start => {
                if starts == 0 && !ended {
                    on_duty = Some(e.clone());
                }
                starts += 1;
                if starts == 2 {
                    keep = i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut entries = newest_first;
    entries.truncate(keep);
    DutyView { on_duty, entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: i64, kind: DutyKind) -> DutyEntry {
        DutyEntry {
            id,
            ts_ms: id * 1000,
            actor: format!("op{id}"),
            kind,
            text: String::new(),
        }
    }

    #[test]
    fn on_duty_is_the_newest_start_and_the_view_keeps_two_shifts() {
        use DutyKind::*;
        // Oldest to newest: start(1) note(2) start(3) handover(4) start(5) note(6)
        let log = vec![
            e(6, Note),
            e(5, Start),
            e(4, Handover),
            e(3, Start),
            e(2, Note),
            e(1, Start),
        ];
        let v = duty_view(log);
        assert_eq!(v.on_duty.as_ref().map(|e| e.id), Some(5));
        assert_eq!(
            v.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            [6, 5, 4, 3]
        );
        // An end after the newest start: nobody is on duty.
        let v = duty_view(vec![e(3, End), e(2, Start), e(1, Note)]);
        assert_eq!(v.on_duty, None);
        assert_eq!(v.entries.len(), 3);
        assert_eq!(duty_view(Vec::new()), DutyView::default());
    }
}

//! Which rows of a list are drawn (the selection kept in view).

use ratatui::layout::Rect;

/// The rows of `items` that fit in `area` under its header line, with
/// their indices, scrolled so that `selected` is visible.
pub fn visible<T>(items: &[T], selected: usize, area: Rect) -> impl Iterator<Item = (usize, &T)> {
    let height = usize::from(area.height.saturating_sub(1));
    items
        .iter()
        .enumerate()
        .skip(window_start(selected, height))
        .take(height)
}

/// First row to draw so that `selected` is visible in `height` rows.
pub fn window_start(selected: usize, height: usize) -> usize {
    if height == 0 || selected < height {
        0
    } else {
        selected + 1 - height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_stays_in_view_below_the_header() {
        let items: Vec<u32> = (0..10).collect();
        let area = Rect::new(0, 0, 20, 4); // header + 3 rows
        let shown = |sel| {
            visible(&items, sel, area)
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(0), [0, 1, 2]);
        assert_eq!(shown(2), [0, 1, 2]);
        assert_eq!(shown(5), [3, 4, 5]);
        assert_eq!(shown(9), [7, 8, 9]);
        assert!(visible(&items, 3, Rect::new(0, 0, 20, 1)).next().is_none());
    }
}

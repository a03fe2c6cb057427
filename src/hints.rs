//! Whether the browser honoured the run's priority hints, read from the run's own Resource
//! Timing: WebKit accepts `fetchpriority` and `priority` without complaint and then serves
//! its queue in the old order (measured with WebKitGTK 2.50: 100 comics all at once over
//! HTTP/1.1 showed the first tile at 5,193 ms against Chromium's 655), so no feature check
//! can tell; only the order the requests went out in can.

use fanout_api::Route;

use crate::{run_config::Priority, stats::RequestTiming};

/// What the run's priority hints did, as the run summary's `data-hints` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hints {
    /// Asked for, and nothing in the run contradicts them: where images queued behind
    /// metadata, an image went out first.
    On,
    /// Asked for, but every image that waited while metadata queued went out after all of
    /// it: the browser's order, as with no hints.
    Ignored,
    /// Not asked for (`priority=none`).
    Off,
}

impl Hints {
    pub fn as_str(self) -> &'static str {
        match self {
            Hints::On => "on",
            Hints::Ignored => "ignored",
            Hints::Off => "off",
        }
    }
}

/// How long before the last metadata request an image must have been asked for to count as
/// waiting behind it: more than the few ms between a comic's metadata arriving and its image
/// being asked for, far less than one 300 ms wave.
const WAITED_MS: f64 = 20.0;

/// The verdict for a run that asked for `priority`, from its requests.
pub fn verdict(priority: Priority, requests: &[RequestTiming]) -> Hints {
    if priority == Priority::NoHints {
        return Hints::Off;
    }
    let sent = |wanted: fn(&Route) -> bool| {
        requests
            .iter()
            .filter(move |r| r.route.as_ref().is_some_and(wanted) && r.request_start > 0.0)
    };
    let Some(last_metadata) = sent(|r| matches!(r, Route::Comic(_)))
        .map(|r| r.request_start)
        .reduce(f64::max)
    else {
        return Hints::On;
    };
    let mut waited = sent(|r| matches!(r, Route::Image(_)))
        .filter(|image| image.start + WAITED_MS < last_metadata)
        .peekable();
    if waited.peek().is_none() {
        // No image ever waited behind metadata (one wave, HTTP/2, the server's gather):
        // there was nothing for the hints to reorder.
        return Hints::On;
    }
    if waited.any(|image| image.request_start < last_metadata) {
        Hints::On
    } else {
        Hints::Ignored
    }
}

#[cfg(test)]
mod tests {
    use fanout_api::ComicId;

    use super::*;

    fn request(route: Route, start: f64, request_start: f64) -> RequestTiming {
        RequestTiming {
            url: String::new(),
            route: Some(route),
            start,
            request_start,
            response_start: request_start + 300.0,
            response_end: request_start + 301.0,
            protocol: "http/1.1".into(),
            dns: None,
            connect: None,
            secure_connection_start: None,
            status: None,
        }
    }

    fn metadata(request_start: f64) -> RequestTiming {
        request(Route::Comic(ComicId::Number(1)), 0.0, request_start)
    }

    fn image(start: f64, request_start: f64) -> RequestTiming {
        request(Route::Image("a.png".into()), start, request_start)
    }

    #[test]
    fn no_hints_asked_is_off_whatever_the_order() {
        let run = [metadata(1.0), metadata(600.0), image(305.0, 305.0)];
        assert_eq!(verdict(Priority::NoHints, &run), Hints::Off);
    }

    #[test]
    fn an_image_sent_ahead_of_queued_metadata_means_on() {
        // Chromium with hints: the first images (asked for at 305 ms) go out in the third
        // wave, ahead of metadata still queued until 900 ms.
        let run = [
            metadata(1.0),
            metadata(300.0),
            metadata(900.0),
            image(305.0, 600.0),
            image(605.0, 1200.0),
        ];
        assert_eq!(verdict(Priority::ImagesFirst, &run), Hints::On);
    }

    #[test]
    fn images_that_waited_for_all_the_metadata_mean_ignored() {
        // WebKit: images asked for at 305 ms go out only after the last metadata (900 ms).
        let run = [
            metadata(1.0),
            metadata(300.0),
            metadata(900.0),
            image(305.0, 1200.0),
            image(605.0, 1200.0),
        ];
        assert_eq!(verdict(Priority::ImagesFirst, &run), Hints::Ignored);
    }

    #[test]
    fn without_a_queue_there_is_nothing_to_contradict() {
        // Every metadata request went at once (HTTP/2, or six comics or fewer): no image
        // ever waited behind one.
        let run = [metadata(1.0), metadata(2.0), image(305.0, 306.0)];
        assert_eq!(verdict(Priority::ImagesFirst, &run), Hints::On);
        // The server's gather: no single-comic metadata at all.
        assert_eq!(verdict(Priority::ImagesFirst, &[image(305.0, 306.0)]), Hints::On);
        // An image asked for just as the last metadata went out did not wait behind it.
        let run = [metadata(1.0), metadata(310.0), image(300.0, 320.0)];
        assert_eq!(verdict(Priority::ImagesFirst, &run), Hints::On);
    }

    #[test]
    fn an_image_never_sent_is_no_evidence() {
        // A stopped run: the image was asked for but never sent (request_start 0).
        let run = [metadata(1.0), metadata(900.0), image(305.0, 0.0)];
        assert_eq!(verdict(Priority::ImagesFirst, &run), Hints::On);
    }
}

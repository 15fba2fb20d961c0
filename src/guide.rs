//! The user's guide, one page per topic. The crate's front page is the map; these pages
//! hold the rules in full. They are documentation only: nothing here is code.

// The pages' links name the crate's items as its front page does; a module's outer doc
// resolves them here.
#[allow(unused_imports)]
use crate::*;

macro_rules! page {
    ($(#[$attr:meta])* $name:ident, $file:literal) => {
        $(#[$attr])*
        #[doc = include_str!(concat!("../docs/guide/", $file))]
        pub mod $name {}
    };
}

page!(roles, "roles.md");
page!(routing, "routing.md");
page!(replicas, "replicas.md");
page!(consistency, "consistency.md");
page!(galera, "galera.md");
page!(observability, "observability.md");
page!(web, "web.md");
page!(
    /// (Needs the feature `async`.)
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    asynchronous,
    "async.md"
);
page!(limits, "limits.md");

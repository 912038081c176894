"""The launch as the release engineer sees it: records, profiles, progress and errors; no AWS client."""

//! Runs scenario steps against a cluster, evaluates assertions, and writes
//! reports (JUnit XML, versioned JSON, Markdown summary).

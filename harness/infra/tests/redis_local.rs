//! The `local` Redis provider against a real `redis-server`: it starts and
//! serves, survives a graceful restart with its data on the same port, comes
//! back after a kill, and leaves no process behind when dropped.

mod common;

use common::{process_gone, redis_get, redis_set_get};
use harness_infra::{Fault, Redis, RedisSpec, redis::wait_for_ping};

#[tokio::test]
async fn serves_restarts_with_its_data_and_leaves_nothing_behind() -> anyhow::Result<()> {
    let mut redis = Redis::start(&RedisSpec::Local { binary: None }).await?;
    let url = redis.url().clone();
    assert!(url.expose().starts_with("redis://127.0.0.1:"), "{url}");
    redis_set_get(&url, "k", "before restart").await?;

    let first_pid = redis.pid().expect("running");
    redis.apply(Fault::Restart).await?;
    let second_pid = redis.pid().expect("running again");
    assert_ne!(first_pid, second_pid, "restart must start a new process");
    assert!(process_gone(first_pid));
    // Same URL, and the AOF flushed on SIGTERM brought the key back.
    assert_eq!(
        redis_get(&url, "k").await?.as_deref(),
        Some("before restart")
    );

    redis.apply(Fault::Stop).await?;
    assert!(redis.pid().is_none());
    assert!(
        redis_get(&url, "k").await.is_err(),
        "a stopped server must not answer"
    );
    redis.apply(Fault::Start).await?;
    redis_set_get(&url, "k2", "after start").await?;

    let data_dir = redis.data_dir().expect("local").to_owned();
    let pid = redis.pid().expect("running");
    drop(redis);
    assert!(process_gone(pid), "redis-server {pid} outlived its handle");
    assert!(
        !data_dir.exists(),
        "the data dir {} outlived its handle",
        data_dir.display()
    );
    Ok(())
}

#[tokio::test]
async fn comes_back_after_a_kill() -> anyhow::Result<()> {
    let mut redis = Redis::start(&RedisSpec::Local { binary: None }).await?;
    let pid = redis.pid().expect("running");
    redis.apply(Fault::Kill).await?;
    assert!(process_gone(pid));
    redis.apply(Fault::Start).await?;
    wait_for_ping(redis.url(), std::time::Duration::from_secs(5)).await?;
    redis_set_get(redis.url(), "k", "v").await
}

#[tokio::test]
async fn two_servers_get_their_own_ports() -> anyhow::Result<()> {
    let (a, b) = tokio::try_join!(
        Redis::start(&RedisSpec::Local { binary: None }),
        Redis::start(&RedisSpec::Local { binary: None })
    )?;
    assert_ne!(a.url(), b.url());
    redis_set_get(a.url(), "k", "a").await?;
    assert_eq!(redis_get(b.url(), "k").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_binary_that_is_not_redis_fails_with_its_log() {
    let spec = RedisSpec::Local {
        binary: Some("false".into()),
    };
    let err = Redis::start(&spec)
        .await
        .expect_err("false is not a server")
        .to_string();
    assert!(
        err.starts_with("redis-server exited during start-up"),
        "{err}"
    );
}

#[tokio::test]
async fn external_redis_supports_no_faults() -> anyhow::Result<()> {
    let mut redis = Redis::start(&"external:redis://:secret@127.0.0.1:1/".parse()?).await?;
    assert!(!redis.supports(Fault::Restart));
    let err = redis
        .apply(Fault::Restart)
        .await
        .expect_err("unsupported")
        .to_string();
    assert_eq!(
        err,
        "fault restart is not supported by the redis external provider"
    );
    assert!(!format!("{redis:?}").contains("secret"));
    Ok(())
}

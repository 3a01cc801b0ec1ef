//! Storage behaves the same on SQLite and PostgreSQL: every check here runs on both.

use attendance_bridge::auth;
use attendance_bridge::domain::{EmployeeId, WallTime};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use attendance_bridge::store::dialect::{Dialect, Sql, Value};
use attendance_bridge::store::{StoreError, users, write_tx};
use bridge_e2e::{Backend, TestDb};
use chrono::NaiveDate;

bridge_e2e::on_both_backends!(
    migrations_apply_once_and_report_ready,
    same_punch_twice_is_stored_once,
    wall_times_round_trip_exactly,
    device_names_are_unique,
    users_and_tokens,
    new_punches_mark_their_days_for_processing,
    a_day_and_its_delivery_are_stored_together_or_not_at_all,
    concurrent_read_then_write_transactions_all_commit,
);

fn new_device(name: &str) -> NewDevice {
    NewDevice::pull(name, "127.0.0.1", 4370, 0)
}

fn punch(device: attendance_bridge::domain::DeviceId, user: &str, h: u32, m: u32, s: u32) -> NewPunch {
    let local = NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.and_hms_opt(h, m, s)).expect("valid time");
    NewPunch {
        device_id: device,
        employee: EmployeeId(user.into()),
        local_time: WallTime(local),
        utc_time: local.and_utc(),
        status: 1,
        punch_state: 0,
        verify_type: 1,
        device_seq: None,
    }
}

async fn migrations_apply_once_and_report_ready(backend: Backend) {
    let db = TestDb::empty(backend).await;
    let store = attendance_bridge::store::Store::open(&db.url, 2).await.expect("open");
    assert!(!store.ready().await.expect("ready check").pending.is_empty(), "fresh database has pending migrations");
    let first = attendance_bridge::store::run_migrations(&db.url).await.expect("migrate");
    assert!(!first.applied.is_empty());
    let second = attendance_bridge::store::run_migrations(&db.url).await.expect("migrate again");
    assert!(second.applied.is_empty(), "second run applies nothing");
    assert!(store.ready().await.expect("ready check").pending.is_empty());
}

async fn same_punch_twice_is_stored_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let device = devices::insert(&store, &new_device("Gate")).await.expect("device");
    let a = punch(device.id, "1001", 8, 57, 12);
    let b = punch(device.id, "1001", 17, 3, 40);

    assert_eq!(punches::insert(&store, &[a.clone()]).await.expect("insert"), 1);
    assert_eq!(punches::insert(&store, &[a.clone()]).await.expect("insert again"), 0, "a stored punch is skipped");
    assert_eq!(punches::insert(&store, &[a.clone(), b.clone(), b.clone()]).await.expect("batch"), 1);
    assert_eq!(punches::count(&store).await.expect("count"), 2);

    // The same wall time for another employee or on another device is a different punch.
    let other_device = devices::insert(&store, &new_device("Back door")).await.expect("device");
    let mut c = a.clone();
    c.employee = EmployeeId("1002".into());
    let mut d = a.clone();
    d.device_id = other_device.id;
    assert_eq!(punches::insert(&store, &[c, d]).await.expect("insert"), 2);
    assert_eq!(punches::count(&store).await.expect("count"), 4);
}

async fn wall_times_round_trip_exactly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let device = devices::insert(&store, &new_device("Gate")).await.expect("device");
    let written = punch(device.id, "7", 23, 59, 59);
    punches::insert(&store, &[written.clone()]).await.expect("insert");
    let stored = punches::list_for_device(&store, device.id).await.expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].local_time, written.local_time);
    assert_eq!(stored[0].utc_time, written.utc_time.naive_utc());
    assert_eq!(stored[0].employee, written.employee);
    assert_eq!((stored[0].status, stored[0].punch_state, stored[0].verify_type), (1, 0, 1));
}

async fn device_names_are_unique(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    devices::insert(&store, &new_device("Gate")).await.expect("first");
    let again = devices::insert(&store, &new_device("Gate")).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists(_))), "{again:?}");
    let listed = devices::list(&store).await.expect("list");
    assert_eq!(listed.len(), 1);
    let at = chrono::Utc::now();
    devices::record_sync(&store, listed[0].id, at, Some("timeout")).await.expect("record error");
    devices::record_sync(&store, listed[0].id, at, None).await.expect("record success");
    let device = &devices::list(&store).await.expect("list")[0];
    assert_eq!(device.last_error, None);
    assert!(device.last_sync_at.is_some());
}

async fn users_and_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let hash = auth::hash_password("correct horse battery").expect("hash");
    let user = users::create(&store, "admin", &hash, true).await.expect("create");
    assert!(matches!(users::create(&store, "admin", &hash, false).await, Err(StoreError::AlreadyExists(_))));
    let found = users::find_by_username(&store, "admin").await.expect("find").expect("exists");
    assert!(auth::verify_password("correct horse battery", &found.password_hash));

    let token = auth::generate_token();
    users::create_token(&store, user.id, "ci", &token.hash, &token.prefix).await.expect("token");
    let owner = users::find_by_token_hash(&store, &auth::hash_token(&token.token)).await.expect("lookup");
    assert_eq!(owner.map(|u| u.username).as_deref(), Some("admin"));
    let nobody = users::find_by_token_hash(&store, &auth::hash_token("zkb_wrong")).await.expect("lookup");
    assert!(nobody.is_none());
}

async fn new_punches_mark_their_days_for_processing(backend: Backend) {
    use attendance_bridge::store::pending;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let device = devices::insert(&store, &new_device("Gate")).await.expect("device");
    // An 01:30 punch may close the night shift that started the day before: both days are marked.
    let night_out = punch(device.id, "1001", 1, 30, 0);
    let day_in = punch(device.id, "1002", 9, 0, 0);
    punches::insert(&store, &[night_out.clone(), day_in]).await.expect("insert");
    let days: Vec<(String, String)> = pending::list(&store, 100)
        .await
        .expect("pending")
        .into_iter()
        .map(|d| (d.employee.0, d.work_date.to_string()))
        .collect();
    let mut days = days;
    days.sort();
    assert_eq!(
        days,
        [
            ("1001".to_owned(), "2025-06-01".to_owned()),
            ("1001".to_owned(), "2025-06-02".to_owned()),
            ("1002".to_owned(), "2025-06-01".to_owned()),
            ("1002".to_owned(), "2025-06-02".to_owned()),
        ]
    );
    // A punch already stored marks nothing new.
    punches::insert(&store, &[night_out]).await.expect("again");
    assert_eq!(pending::count(&store).await.expect("count"), 4);
}

/// A failpoint between writing a day and queuing its delivery: a trigger that makes every insert into
/// the outbox fail, as if the process died right after the day's row was written. The day's row must
/// go with it (one transaction), for a new day and for a new revision of a stored one; otherwise the
/// CRM would never hear of the change.
async fn a_day_and_its_delivery_are_stored_together_or_not_at_all(backend: Backend) {
    use attendance_bridge::store::attendance::{self, Upserted};
    use attendance_bridge::store::outbox;
    use bridge_e2e::crm::day_content;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ann = EmployeeId("1001".into());
    let (monday, tuesday) = (NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"), NaiveDate::from_ymd_opt(2025, 6, 3).expect("date"));
    assert_eq!(attendance::upsert(&store, &ann, monday, "DAY", &day_content(monday, 480)).await.expect("first day"), Upserted::Inserted);
    let (arm, disarm) = match backend {
        Backend::Sqlite => (
            "CREATE TRIGGER failpoint BEFORE INSERT ON crm_outbox BEGIN SELECT RAISE(ABORT, 'failpoint: died before queuing the delivery'); END;",
            "DROP TRIGGER failpoint;",
        ),
        Backend::Postgres => (
            "CREATE FUNCTION failpoint() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'failpoint: died before queuing the delivery'; END $$; \
             CREATE TRIGGER failpoint BEFORE INSERT ON crm_outbox FOR EACH ROW EXECUTE FUNCTION failpoint();",
            "DROP TRIGGER failpoint ON crm_outbox; DROP FUNCTION failpoint();",
        ),
    };
    db.execute(arm).await;

    let new_day = attendance::upsert(&store, &ann, tuesday, "DAY", &day_content(tuesday, 480)).await;
    assert!(new_day.as_ref().is_err_and(|e| e.to_string().contains("failpoint")), "{new_day:?}");
    let changed = attendance::upsert(&store, &ann, monday, "DAY", &day_content(monday, 500)).await;
    assert!(changed.as_ref().is_err_and(|e| e.to_string().contains("failpoint")), "{changed:?}");
    let days = attendance::for_employee(&store, &ann).await.expect("days");
    assert_eq!(days.len(), 1, "the new day went with its delivery: {days:?}");
    assert_eq!((days[0].work_date, days[0].revision, days[0].worked_min), (monday, 1, Some(480)), "the change went with its delivery");
    let deliveries = outbox::for_day(&store, days[0].id).await.expect("deliveries");
    assert_eq!(
        deliveries.iter().map(|d| (d.revision, d.status.as_str())).collect::<Vec<_>>(),
        [(1, outbox::PENDING)],
        "the first delivery is untouched (not superseded by a change that never happened)"
    );

    // Without the failpoint both are stored, each with exactly one delivery.
    db.execute(disarm).await;
    assert_eq!(attendance::upsert(&store, &ann, tuesday, "DAY", &day_content(tuesday, 480)).await.expect("new day"), Upserted::Inserted);
    assert!(matches!(attendance::upsert(&store, &ann, monday, "DAY", &day_content(monday, 500)).await.expect("change"), Upserted::Updated(_)));
    let days = attendance::for_employee(&store, &ann).await.expect("days");
    for day in &days {
        let deliveries = outbox::for_day(&store, day.id).await.expect("deliveries");
        let pending: Vec<i32> = deliveries.iter().filter(|d| d.status == outbox::PENDING).map(|d| d.revision).collect();
        assert_eq!(pending, [day.revision], "{}: one delivery of the latest revision: {deliveries:?}", day.work_date);
    }
}

/// Several instances starting at once on a fresh PostgreSQL database all migrate it; the advisory lock
/// makes them take turns, so every migration is applied exactly once and none of them fails.
/// (PostgreSQL only: a SQLite file is served by one instance, which `serve` enforces with a lock file.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_migrate_once() {
    let reference = TestDb::empty(Backend::Postgres).await;
    let all = attendance_bridge::store::run_migrations(&reference.url).await.expect("migrate a reference").applied;
    assert!(!all.is_empty());
    for round in 0..3 {
        let db = TestDb::empty(Backend::Postgres).await;
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = db.url.clone();
                tokio::spawn(async move { attendance_bridge::store::run_migrations(&url).await })
            })
            .collect();
        let mut applied = Vec::new();
        for start in starts {
            let report = start.await.expect("task").unwrap_or_else(|e| panic!("round {round}: an instance failed to start: {e}"));
            applied.extend(report.applied);
        }
        applied.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(applied, expected, "round {round}: each migration applied once, by one of the instances");
        let store = db.store().await;
        assert!(store.ready().await.expect("ready").pending.is_empty());
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One read-then-write transaction: counts the rows `race-…` of `settings`, lets the other tasks
/// run, then adds its own row. Returns the count it read.
async fn count_then_insert<C: Dialect>(conn: &mut C, key: String) -> Result<i64, StoreError> {
    write_tx::<_, StoreError, _>(conn, async |conn| {
        let read: Vec<Count> = Sql::<C>::new("SELECT COUNT(*) AS n FROM settings WHERE key LIKE 'race-%'").load(conn).await?;
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        let mut insert = Sql::<C>::new("INSERT INTO settings (key, value, updated_at) VALUES ");
        insert.row([Value::from(key), Value::from("x"), Value::from(chrono::Utc::now().naive_utc())]);
        insert.execute(conn).await?;
        Ok(read.first().map_or(0, |c| c.n))
    })
    .await
}

async fn race_once(store: &attendance_bridge::store::Store, key: String) -> Result<i64, StoreError> {
    attendance_bridge::with_conn!(store, |conn| count_then_insert(conn, key).await)
}

async fn race_rows(store: &attendance_bridge::store::Store) -> Result<i64, StoreError> {
    let rows: Vec<Count> = attendance_bridge::with_conn!(store, |conn| {
        Sql::<_>::new("SELECT COUNT(*) AS n FROM settings WHERE key LIKE 'race-%'").load(conn).await?
    });
    Ok(rows.first().map_or(0, |c| c.n))
}

/// Tasks that each read, then write, in one transaction on pooled connections all commit. On SQLite a
/// deferred transaction would fail its upgrade to a writer at once ("database is locked") as soon as
/// another task wrote after its read; `write_tx` opens it as a writer, so the others wait their turn
/// (and on SQLite each therefore sees every write committed before it).
async fn concurrent_read_then_write_transactions_all_commit(backend: Backend) {
    const TASKS: usize = 8;
    let db = TestDb::new(backend).await;
    let store = attendance_bridge::store::Store::open(&db.url, TASKS as u32).await.expect("open");
    attendance_bridge::store::run_migrations(&db.url).await.expect("migrate");
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { race_once(&store, format!("race-{i}")).await })
        })
        .collect();
    let mut seen = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        seen.push(task.await.expect("task").unwrap_or_else(|e| panic!("task {i}: {e}")));
    }
    assert_eq!(race_rows(&store).await.expect("count"), TASKS as i64, "every task's row is stored");
    if backend == Backend::Sqlite {
        seen.sort_unstable();
        assert_eq!(seen, (0..TASKS as i64).collect::<Vec<_>>(), "the transactions ran one after another");
    }
}

"""Generate a council-sized dataset in PostgreSQL with set-based SQL (minutes, not hours).

20 teams of 50 workers and a supervisor each, a manager, 250,000 children each on their own
case, ten visits per child (2,500,000 visits and as many visit-child rows), and one child with
500 visits for the chronology benchmark. Roughly a third of the children are overdue.

    .venv/bin/python -m tests.perf.oversight_data postgresql://postgres@127.0.0.1/DB [children]
"""

from __future__ import annotations

import sys
import time

import psycopg

TEAMS = 20
WORKERS_PER_TEAM = 50
VISITS_PER_CHILD = 10
BIG_CHRONOLOGY = 500

STEPS = [
    (
        "teams",
        """
        INSERT INTO teams (id, name, display_name)
        SELECT md5('team' || g)::uuid, 'team-' || g, 'Team ' || g FROM generate_series(1, %(teams)s) g
        """,
    ),
    (
        "users",
        """
        INSERT INTO users (id, username, display_name, role, password_hash, active, created_at)
        SELECT md5('worker' || g)::uuid, 'worker' || g, 'Worker ' || g, 'social_worker', %(hash)s, true, now()
        FROM generate_series(1, %(teams)s * %(per_team)s) g
        UNION ALL
        SELECT md5('supervisor' || g)::uuid, 'supervisor' || g, 'Supervisor ' || g, 'supervisor', %(hash)s, true, now()
        FROM generate_series(1, %(teams)s) g
        UNION ALL
        SELECT md5('manager')::uuid, 'manager', 'Manager', 'manager', %(hash)s, true, now()
        """,
    ),
    (
        "team memberships",
        """
        INSERT INTO team_memberships (user_id, team_id)
        SELECT md5('worker' || g)::uuid, md5('team' || (1 + g %% %(teams)s))::uuid
        FROM generate_series(1, %(teams)s * %(per_team)s) g
        UNION ALL
        SELECT md5('supervisor' || g)::uuid, md5('team' || g)::uuid FROM generate_series(1, %(teams)s) g
        UNION ALL
        SELECT md5('manager')::uuid, md5('team' || g)::uuid FROM generate_series(1, %(teams)s) g
        """,
    ),
    (
        "cases",
        """
        INSERT INTO cases (id, core_ref, status, team_id, allocated_worker_id, opened_on, updated_at)
        SELECT md5('case' || g)::uuid, 'C' || g, 'open',
               md5('team' || (1 + (1 + g %% (%(teams)s * %(per_team)s)) %% %(teams)s))::uuid,
               md5('worker' || (1 + g %% (%(teams)s * %(per_team)s)))::uuid,
               current_date - (g %% 900), now()
        FROM generate_series(1, %(children)s) g
        """,
    ),
    (
        "children",
        """
        INSERT INTO children (id, core_person_ref, name, date_of_birth, plan_type, plan_start_date,
                              last_seen_at, last_seen_alone_at, last_statutory_seen_at,
                              next_visit_due, visits_without_views, updated_at)
        SELECT md5('child' || g)::uuid, 'P' || g, 'Child ' || g, current_date - (2000 + g %% 4000),
               (ARRAY['child_protection','child_in_need','looked_after','private_fostering','care_leaver'])[1 + g %% 5],
               current_date - (g %% 700),
               CASE WHEN g %% 17 = 0 THEN NULL ELSE now() - ((g %% 60) || ' days')::interval END,
               CASE WHEN g %% 4 = 0 THEN NULL ELSE now() - ((g %% 90) || ' days')::interval END,
               CASE WHEN g %% 17 = 0 THEN NULL ELSE now() - ((g %% 60) || ' days')::interval END,
               current_date - 30 + (g %% 90), g %% 5, now()
        FROM generate_series(1, %(children)s) g
        """,
    ),
    (
        "case children",
        """
        INSERT INTO case_children (case_id, child_id, team_id, allocated_worker_id, case_open, next_visit_due)
        SELECT md5('case' || g)::uuid, md5('child' || g)::uuid,
               md5('team' || (1 + (1 + g %% (%(teams)s * %(per_team)s)) %% %(teams)s))::uuid,
               md5('worker' || (1 + g %% (%(teams)s * %(per_team)s)))::uuid, true,
               current_date - 30 + (g %% 90)
        FROM generate_series(1, %(children)s) g
        """,
    ),
    (
        "visits",
        """
        INSERT INTO visits (id, case_id, worker_id, visit_type, announced, started_at, ended_at,
                            location, people_present, status, version, content_digest, recorded_at,
                            updated_at, submitted_at, last_submitted_at, recorded_late,
                            team_id, children_seen, children_seen_alone)
        SELECT md5('visit' || g || '-' || k)::uuid, md5('case' || g)::uuid,
               md5('worker' || (1 + g %% (%(teams)s * %(per_team)s)))::uuid,
               CASE WHEN k %% 7 = 0 THEN 'core_group' ELSE 'statutory' END, k %% 3 = 0,
               now() - ((k * 35 + g %% 30) || ' days')::interval,
               now() - ((k * 35 + g %% 30) || ' days')::interval + interval '1 hour',
               'family_home', '[]',
               CASE WHEN k = 1 AND g %% 40 = 0 THEN 'submitted' ELSE 'approved' END, 3, 'generated',
               now() - ((k * 35 + g %% 30) || ' days')::interval, now(),
               now() - ((k * 35 + g %% 30 - 1) || ' days')::interval,
               now() - ((k * 35 + g %% 30 - 1) || ' days')::interval, (g + k) %% 20 = 0,
               md5('team' || (1 + (1 + g %% (%(teams)s * %(per_team)s)) %% %(teams)s))::uuid,
               CASE WHEN (g + k) %% 10 <> 0 THEN 1 ELSE 0 END, CASE WHEN (g + k) %% 10 > 2 THEN 1 ELSE 0 END
        FROM generate_series(1, %(children)s) g CROSS JOIN generate_series(1, %(visits)s) k
        """,
    ),
    (
        "visit children",
        """
        INSERT INTO visit_children (visit_id, child_id, position, seen, seen_alone, not_seen_reason,
                                    own_words, voice_method)
        SELECT md5('visit' || g || '-' || k)::uuid, md5('child' || g)::uuid, 0,
               (g + k) %% 10 <> 0, (g + k) %% 10 > 2,
               CASE WHEN (g + k) %% 10 = 0 THEN 'child_not_home' END,
               CASE WHEN (g + k) %% 3 <> 0 THEN 'I like my new school.' END, 'talking'
        FROM generate_series(1, %(children)s) g CROSS JOIN generate_series(1, %(visits)s) k
        """,
    ),
    (
        "a child with 500 visits",
        """
        INSERT INTO visits (id, case_id, worker_id, visit_type, announced, started_at, ended_at,
                            location, people_present, status, version, content_digest, recorded_at,
                            updated_at, submitted_at, last_submitted_at, recorded_late,
                            team_id, children_seen, children_seen_alone)
        SELECT md5('bigvisit' || k)::uuid, md5('case1')::uuid, md5('worker2')::uuid, 'statutory',
               false, now() - (k || ' days')::interval, now() - (k || ' days')::interval + interval '1 hour',
               'family_home', '[]', 'approved', 3, 'generated', now(), now(),
               now() - (k || ' days')::interval, now() - (k || ' days')::interval, false,
               md5('team3')::uuid, 1, 1
        FROM generate_series(1, %(big)s) k;
        INSERT INTO visit_children (visit_id, child_id, position, seen, seen_alone, own_words, voice_method)
        SELECT md5('bigvisit' || k)::uuid, md5('child1')::uuid, 0, true, true, 'Visit ' || k, 'talking'
        FROM generate_series(1, %(big)s) k
        """,
    ),
    (
        "the record copy",
        """
        INSERT INTO visit_record_children (visit_id, child_id, version_number, worker_id,
                                           visit_type, announced, started_at, seen, seen_alone,
                                           has_views, entry)
        SELECT v.id, vc.child_id, 1, v.worker_id, v.visit_type, v.announced, v.started_at,
               vc.seen, vc.seen AND coalesce(vc.seen_alone, false), vc.own_words IS NOT NULL,
               json_build_object(
                   'child_id', vc.child_id, 'seen', vc.seen, 'seen_alone', vc.seen_alone,
                   'not_seen_reason', vc.not_seen_reason, 'not_seen_detail', NULL,
                   'not_seen_alone_reason', vc.not_seen_alone_reason,
                   'not_seen_alone_detail', NULL, 'bedroom_seen', vc.bedroom_seen,
                   'voice', CASE WHEN vc.own_words IS NULL THEN NULL ELSE json_build_object(
                       'own_words', vc.own_words, 'method', vc.voice_method) END)
        FROM visits v JOIN visit_children vc ON vc.visit_id = v.id
        """,
    ),
    # From migration 0014 on (a database generated at an earlier revision gets it by migrating).
    (
        "the record's team",
        """
        UPDATE visit_record_children r SET team_id = v.team_id FROM visits v
        WHERE v.id = r.visit_id AND v.team_id IS NOT NULL
        """,
    ),
    # As a routinely maintained database would be: otherwise autovacuum works through 5M new
    # rows on one of the two cores while the benchmark runs.
    ("vacuum analyze", "VACUUM ANALYZE"),
]


def generate(url: str, children: int, password_hash: str, report=print) -> None:  # type: ignore[no-untyped-def]
    """Fill an empty, migrated database; ``report`` hears each step and how long it took."""
    params = {
        "teams": TEAMS,
        "per_team": WORKERS_PER_TEAM,
        "children": children,
        "visits": VISITS_PER_CHILD,
        "big": BIG_CHRONOLOGY,
        "hash": password_hash,
    }
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        has_team = connection.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'visit_record_children' AND column_name = 'team_id'"
        ).fetchone()
        for name, sql in STEPS:
            if name == "the record's team" and not (has_team and has_team[0]):
                continue
            started = time.perf_counter()
            for statement in sql.split(";"):
                if statement.strip():
                    connection.execute(statement, params)
            report(f"  {name}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    from argon2 import PasswordHasher

    generate(
        sys.argv[1],
        int(sys.argv[2]) if len(sys.argv) > 2 else 250_000,
        PasswordHasher().hash("bench"),
    )

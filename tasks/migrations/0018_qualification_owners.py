# ruff: noqa: E501 - the functions as PostgreSQL prints them (pg_get_functiondef)
"""Who may qualify workers (issue 17): training that qualifies a worker in a skill
for the whole platform is staff's; a requester may run its own qualification test
(is_org_test), whose pass only opens its own sets that require it
(requires_org_test) and never moves platform standing.

work_claim applies the new gate; FORWARD is the whole function this migration
installs (the same text as tasks/sql/work_claim.sql, which a test compares with the
installed function), REVERSE the whole function of migration 0016."""

from django.db import migrations, models

from marketplace.migration_ops import postgres_only_sql

FORWARD = r"""
CREATE OR REPLACE FUNCTION public.work_claim(p_worker bigint, p_only_set bigint, p_max_active integer)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET enable_sort TO 'off'
 SET jit TO 'off'
AS $function$
DECLARE
    v_profile record;
    v_now timestamptz;
    v_held bigint;
    v_held_count integer;
    v_listed record;
    v_set record;
    v_any_set boolean := false;
    v_contended boolean := false;
    v_wants_gold boolean;
    v_used integer;
    v_after bigint;
    v_candidate bigint;
    v_made bigint;
BEGIN
    -- One worker's claims go one at a time (two tabs, a resend), so the held-claims
    -- limit cannot be overrun by racing yourself; an account deactivated while its
    -- socket is open stops here.
    SELECT p.status, p.languages, p.skills, p.centre_id, p.enrolled_by_id, u.is_active
      INTO v_profile
      FROM marketplace_workerprofile p JOIN marketplace_user u ON u.id = p.user_id
     WHERE p.user_id = p_worker
       FOR UPDATE OF p;
    IF NOT FOUND OR v_profile.status <> 'vetted' OR NOT v_profile.is_active THEN
        RETURN jsonb_build_object('outcome', 'not_vetted');
    END IF;
    v_now := clock_timestamp();

    -- A new statement, after the profile lock: it sees the worker's last claim.
    SELECT count(*), (array_agg(a.id ORDER BY a.claimed_at, a.id))[1]
      INTO v_held_count, v_held
      FROM tasks_assignment a JOIN tasks_taskset s ON s.id = a.task_set_id
     WHERE a.worker_id = p_worker AND a.status = 'active' AND a.expires_at > v_now
       AND s.status = 'published';
    IF v_held_count >= p_max_active THEN
        RETURN work_claimed(v_held, true);
    END IF;

    -- The sets open to this worker (tasks.work.set_is_open_to), priority first and
    -- in random order among equals: every set gets its share of workers without a
    -- shared counter that each claim would contend on. w is the worker's platform
    -- standing in the set's skill; o, for an organization's own test and the sets
    -- that require it, the standing that test alone moves (reputation.services.
    -- skill_for with an organization: the skill, then '@org:' and the id).
    FOR v_listed IN
        SELECT s.id, s.is_training
          FROM tasks_taskset s
          LEFT JOIN reputation_workerskill w
            ON w.worker_id = p_worker
           AND w.skill = CASE WHEN s.kind = 'transcription' AND s.language <> ''
                              THEN 'transcription:' || s.language ELSE s.kind END
          LEFT JOIN reputation_workerskill o
            ON (s.is_org_test OR s.requires_org_test)
           AND o.worker_id = p_worker
           AND o.skill = CASE WHEN s.kind = 'transcription' AND s.language <> ''
                              THEN 'transcription:' || s.language ELSE s.kind END
                         || '@org:' || s.organization_id
         WHERE s.status = 'published'
           AND (p_only_set IS NULL OR s.id = p_only_set)
           AND (s.language = '' OR coalesce(v_profile.languages ? s.language, false))
           AND (s.required_skill = ''
                OR coalesce(v_profile.skills ? s.required_skill, false))
           -- Only the centre's own enrolments: anyone can name a centre when applying.
           AND (s.centre_id IS NULL OR (v_profile.enrolled_by_id IS NOT NULL
                                        AND v_profile.centre_id = s.centre_id))
           AND CASE WHEN s.is_training AND NOT s.is_org_test
                    THEN w.id IS NULL
                         OR (w.state = 'training'
                             AND (w.cooldown_until IS NULL OR w.cooldown_until <= v_now))
                    -- An organization's test: for the platform-qualified who have not
                    -- passed it (and are not cooling down after failing it).
                    WHEN s.is_training
                    THEN w.state = 'qualified'
                         AND (o.id IS NULL
                              OR (o.state = 'training'
                                  AND (o.cooldown_until IS NULL OR o.cooldown_until <= v_now)))
                    ELSE w.state = 'qualified'
                         AND w.score_permille >= s.min_reputation_permille
                         AND (NOT s.requires_org_test OR o.state = 'qualified')
               END
         ORDER BY s.priority DESC, random()
    LOOP
        v_any_set := true;
        -- Share-lock the set while claiming, so that a pause or cancel (which locks
        -- it for update, then withdraws the active claims) cannot miss this claim;
        -- read under that lock. A training set's claims count against its answer
        -- budget, so they take it exclusively (few workers train at once).
        IF v_listed.is_training THEN
            SELECT * INTO v_set FROM tasks_taskset
             WHERE id = v_listed.id AND status = 'published' FOR UPDATE;
        ELSE
            SELECT * INTO v_set FROM tasks_taskset
             WHERE id = v_listed.id AND status = 'published' FOR SHARE;
        END IF;
        CONTINUE WHEN NOT FOUND;

        IF v_set.is_training THEN
            IF v_set.training_answer_budget IS NOT NULL THEN
                SELECT count(*) INTO v_used FROM tasks_assignment a
                 WHERE a.task_set_id = v_set.id
                   AND (a.status = 'submitted'
                        OR (a.status = 'active' AND a.expires_at > v_now));
                CONTINUE WHEN v_used >= v_set.training_answer_budget;
            END IF;
            v_made := NULL;
            INSERT INTO tasks_assignment (
                task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                reward_minor, currency, release_reason, review_status, review_reason)
            SELECT g.id, v_set.id, g.is_gold, p_worker, 'active', v_now,
                   v_now + make_interval(secs => v_set.time_limit_seconds),
                   v_set.reward_minor, v_set.currency, '', 'pending', ''
              FROM tasks_task g
             WHERE g.task_set_id = v_set.id AND g.is_gold AND g.withdrawn_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                WHERE a.task_id = g.id AND a.worker_id = p_worker OFFSET 0)
             ORDER BY random() LIMIT 1
            RETURNING id INTO v_made;
            IF v_made IS NOT NULL THEN
                RETURN work_claimed(v_made, false);
            END IF;
            CONTINUE;
        END IF;

        -- Gold only ever comes mixed into regular work: when the regular tasks are
        -- gone, so is the gold, or the pattern itself would give gold away.
        v_wants_gold := floor(random() * 1000) < v_set.gold_ratio_permille;
        v_after := 0;
        LOOP
            -- The first open regular task by id, unseen by the worker, that looks
            -- free in this statement's snapshot, locked; SKIP LOCKED spreads claimers
            -- over tasks instead of queueing them on one (the partial index
            -- task_open_regular holds only open regular tasks).
            SELECT t.id INTO v_candidate
              FROM tasks_task t
             WHERE t.task_set_id = v_set.id AND t.is_open AND NOT t.is_gold
               AND t.id > v_after
               AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                WHERE a.task_id = t.id AND a.worker_id = p_worker OFFSET 0)
               AND t.submitted_count < v_set.assignments_per_task + t.extra_assignments
                   - (SELECT count(*) FROM tasks_assignment a
                       WHERE a.task_id = t.id AND a.status = 'active'
                         AND a.expires_at > v_now)
             ORDER BY t.id LIMIT 1
               FOR UPDATE OF t SKIP LOCKED;
            IF NOT FOUND THEN
                -- Were candidates passed over only because others held them? Then
                -- their claims may leave a slot: worth a retry (by the caller).
                v_contended := v_contended OR EXISTS (
                    SELECT 1 FROM tasks_task t
                     WHERE t.task_set_id = v_set.id AND t.is_open AND NOT t.is_gold
                       AND t.id > v_after
                       AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                        WHERE a.task_id = t.id AND a.worker_id = p_worker OFFSET 0)
                       AND t.submitted_count < v_set.assignments_per_task
                           + t.extra_assignments
                           - (SELECT count(*) FROM tasks_assignment a
                               WHERE a.task_id = t.id AND a.status = 'active'
                                 AND a.expires_at > v_now));
                EXIT;
            END IF;
            -- Under the candidate's lock, in a new statement: the slots are counted
            -- again (anyone else adding a claim to this task holds the same lock, so
            -- the count is exact) and the claim made only if one is free. A wanted
            -- gold task, random among the worker's unseen gold, is claimed in its
            -- place: gold has no slot limit and takes no lock.
            v_made := NULL;
            IF v_wants_gold THEN
                WITH gold AS (
                    SELECT g.id FROM tasks_task g
                     WHERE g.task_set_id = v_set.id AND g.is_gold AND g.withdrawn_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                        WHERE a.task_id = g.id AND a.worker_id = p_worker OFFSET 0)
                     ORDER BY random() LIMIT 1
                ), picked AS (
                    SELECT coalesce((SELECT id FROM gold), t.id) AS task_id
                      FROM tasks_task t
                     WHERE t.id = v_candidate
                       AND t.submitted_count + (SELECT count(*) FROM tasks_assignment a
                                                 WHERE a.task_id = t.id
                                                   AND a.status = 'active'
                                                   AND a.expires_at > v_now)
                           < v_set.assignments_per_task + t.extra_assignments
                )
                INSERT INTO tasks_assignment (
                    task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                    reward_minor, currency, release_reason, review_status, review_reason)
                SELECT p.task_id, v_set.id, p.task_id <> v_candidate, p_worker, 'active',
                       v_now, v_now + make_interval(secs => v_set.time_limit_seconds),
                       v_set.reward_minor, v_set.currency, '', 'pending', ''
                  FROM picked p
                RETURNING id INTO v_made;
            ELSE
                WITH picked AS (
                    SELECT t.id AS task_id
                      FROM tasks_task t
                     WHERE t.id = v_candidate
                       AND t.submitted_count + (SELECT count(*) FROM tasks_assignment a
                                                 WHERE a.task_id = t.id
                                                   AND a.status = 'active'
                                                   AND a.expires_at > v_now)
                           < v_set.assignments_per_task + t.extra_assignments
                )
                INSERT INTO tasks_assignment (
                    task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                    reward_minor, currency, release_reason, review_status, review_reason)
                SELECT p.task_id, v_set.id, p.task_id <> v_candidate, p_worker, 'active',
                       v_now, v_now + make_interval(secs => v_set.time_limit_seconds),
                       v_set.reward_minor, v_set.currency, '', 'pending', ''
                  FROM picked p
                RETURNING id INTO v_made;
            END IF;
            IF v_made IS NOT NULL THEN
                RETURN work_claimed(v_made, false);
            END IF;
            v_after := v_candidate;  -- full after all: the next one
        END LOOP;
    END LOOP;
    IF NOT v_any_set THEN
        RETURN jsonb_build_object('outcome', 'no_sets');
    END IF;
    RETURN jsonb_build_object('outcome', 'no_tasks', 'contended', v_contended);
END
$function$;
"""

REVERSE = r"""
CREATE OR REPLACE FUNCTION public.work_claim(p_worker bigint, p_only_set bigint, p_max_active integer)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET enable_sort TO 'off'
 SET jit TO 'off'
AS $function$
DECLARE
    v_profile record;
    v_now timestamptz;
    v_held bigint;
    v_held_count integer;
    v_listed record;
    v_set record;
    v_any_set boolean := false;
    v_contended boolean := false;
    v_wants_gold boolean;
    v_used integer;
    v_after bigint;
    v_candidate bigint;
    v_made bigint;
BEGIN
    -- One worker's claims go one at a time (two tabs, a resend), so the held-claims
    -- limit cannot be overrun by racing yourself; an account deactivated while its
    -- socket is open stops here.
    SELECT p.status, p.languages, p.skills, p.centre_id, p.enrolled_by_id, u.is_active
      INTO v_profile
      FROM marketplace_workerprofile p JOIN marketplace_user u ON u.id = p.user_id
     WHERE p.user_id = p_worker
       FOR UPDATE OF p;
    IF NOT FOUND OR v_profile.status <> 'vetted' OR NOT v_profile.is_active THEN
        RETURN jsonb_build_object('outcome', 'not_vetted');
    END IF;
    v_now := clock_timestamp();

    -- A new statement, after the profile lock: it sees the worker's last claim.
    SELECT count(*), (array_agg(a.id ORDER BY a.claimed_at, a.id))[1]
      INTO v_held_count, v_held
      FROM tasks_assignment a JOIN tasks_taskset s ON s.id = a.task_set_id
     WHERE a.worker_id = p_worker AND a.status = 'active' AND a.expires_at > v_now
       AND s.status = 'published';
    IF v_held_count >= p_max_active THEN
        RETURN work_claimed(v_held, true);
    END IF;

    -- The sets open to this worker (tasks.work.set_is_open_to), priority first and
    -- in random order among equals: every set gets its share of workers without a
    -- shared counter that each claim would contend on.
    FOR v_listed IN
        SELECT s.id, s.is_training
          FROM tasks_taskset s
          LEFT JOIN reputation_workerskill w
            ON w.worker_id = p_worker
           AND w.skill = CASE WHEN s.kind = 'transcription' AND s.language <> ''
                              THEN 'transcription:' || s.language ELSE s.kind END
         WHERE s.status = 'published'
           AND (p_only_set IS NULL OR s.id = p_only_set)
           AND (s.language = '' OR coalesce(v_profile.languages ? s.language, false))
           AND (s.required_skill = ''
                OR coalesce(v_profile.skills ? s.required_skill, false))
           -- Only the centre's own enrolments: anyone can name a centre when applying.
           AND (s.centre_id IS NULL OR (v_profile.enrolled_by_id IS NOT NULL
                                        AND v_profile.centre_id = s.centre_id))
           AND CASE WHEN s.is_training
                    THEN w.id IS NULL
                         OR (w.state = 'training'
                             AND (w.cooldown_until IS NULL OR w.cooldown_until <= v_now))
                    ELSE w.state = 'qualified'
                         AND w.score_permille >= s.min_reputation_permille
               END
         ORDER BY s.priority DESC, random()
    LOOP
        v_any_set := true;
        -- Share-lock the set while claiming, so that a pause or cancel (which locks
        -- it for update, then withdraws the active claims) cannot miss this claim;
        -- read under that lock. A training set's claims count against its answer
        -- budget, so they take it exclusively (few workers train at once).
        IF v_listed.is_training THEN
            SELECT * INTO v_set FROM tasks_taskset
             WHERE id = v_listed.id AND status = 'published' FOR UPDATE;
        ELSE
            SELECT * INTO v_set FROM tasks_taskset
             WHERE id = v_listed.id AND status = 'published' FOR SHARE;
        END IF;
        CONTINUE WHEN NOT FOUND;

        IF v_set.is_training THEN
            IF v_set.training_answer_budget IS NOT NULL THEN
                SELECT count(*) INTO v_used FROM tasks_assignment a
                 WHERE a.task_set_id = v_set.id
                   AND (a.status = 'submitted'
                        OR (a.status = 'active' AND a.expires_at > v_now));
                CONTINUE WHEN v_used >= v_set.training_answer_budget;
            END IF;
            v_made := NULL;
            INSERT INTO tasks_assignment (
                task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                reward_minor, currency, release_reason, review_status, review_reason)
            SELECT g.id, v_set.id, g.is_gold, p_worker, 'active', v_now,
                   v_now + make_interval(secs => v_set.time_limit_seconds),
                   v_set.reward_minor, v_set.currency, '', 'pending', ''
              FROM tasks_task g
             WHERE g.task_set_id = v_set.id AND g.is_gold AND g.withdrawn_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                WHERE a.task_id = g.id AND a.worker_id = p_worker OFFSET 0)
             ORDER BY random() LIMIT 1
            RETURNING id INTO v_made;
            IF v_made IS NOT NULL THEN
                RETURN work_claimed(v_made, false);
            END IF;
            CONTINUE;
        END IF;

        -- Gold only ever comes mixed into regular work: when the regular tasks are
        -- gone, so is the gold, or the pattern itself would give gold away.
        v_wants_gold := floor(random() * 1000) < v_set.gold_ratio_permille;
        v_after := 0;
        LOOP
            -- The first open regular task by id, unseen by the worker, that looks
            -- free in this statement's snapshot, locked; SKIP LOCKED spreads claimers
            -- over tasks instead of queueing them on one (the partial index
            -- task_open_regular holds only open regular tasks).
            SELECT t.id INTO v_candidate
              FROM tasks_task t
             WHERE t.task_set_id = v_set.id AND t.is_open AND NOT t.is_gold
               AND t.id > v_after
               AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                WHERE a.task_id = t.id AND a.worker_id = p_worker OFFSET 0)
               AND t.submitted_count < v_set.assignments_per_task + t.extra_assignments
                   - (SELECT count(*) FROM tasks_assignment a
                       WHERE a.task_id = t.id AND a.status = 'active'
                         AND a.expires_at > v_now)
             ORDER BY t.id LIMIT 1
               FOR UPDATE OF t SKIP LOCKED;
            IF NOT FOUND THEN
                -- Were candidates passed over only because others held them? Then
                -- their claims may leave a slot: worth a retry (by the caller).
                v_contended := v_contended OR EXISTS (
                    SELECT 1 FROM tasks_task t
                     WHERE t.task_set_id = v_set.id AND t.is_open AND NOT t.is_gold
                       AND t.id > v_after
                       AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                        WHERE a.task_id = t.id AND a.worker_id = p_worker OFFSET 0)
                       AND t.submitted_count < v_set.assignments_per_task
                           + t.extra_assignments
                           - (SELECT count(*) FROM tasks_assignment a
                               WHERE a.task_id = t.id AND a.status = 'active'
                                 AND a.expires_at > v_now));
                EXIT;
            END IF;
            -- Under the candidate's lock, in a new statement: the slots are counted
            -- again (anyone else adding a claim to this task holds the same lock, so
            -- the count is exact) and the claim made only if one is free. A wanted
            -- gold task, random among the worker's unseen gold, is claimed in its
            -- place: gold has no slot limit and takes no lock.
            v_made := NULL;
            IF v_wants_gold THEN
                WITH gold AS (
                    SELECT g.id FROM tasks_task g
                     WHERE g.task_set_id = v_set.id AND g.is_gold AND g.withdrawn_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                        WHERE a.task_id = g.id AND a.worker_id = p_worker OFFSET 0)
                     ORDER BY random() LIMIT 1
                ), picked AS (
                    SELECT coalesce((SELECT id FROM gold), t.id) AS task_id
                      FROM tasks_task t
                     WHERE t.id = v_candidate
                       AND t.submitted_count + (SELECT count(*) FROM tasks_assignment a
                                                 WHERE a.task_id = t.id
                                                   AND a.status = 'active'
                                                   AND a.expires_at > v_now)
                           < v_set.assignments_per_task + t.extra_assignments
                )
                INSERT INTO tasks_assignment (
                    task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                    reward_minor, currency, release_reason, review_status, review_reason)
                SELECT p.task_id, v_set.id, p.task_id <> v_candidate, p_worker, 'active',
                       v_now, v_now + make_interval(secs => v_set.time_limit_seconds),
                       v_set.reward_minor, v_set.currency, '', 'pending', ''
                  FROM picked p
                RETURNING id INTO v_made;
            ELSE
                WITH picked AS (
                    SELECT t.id AS task_id
                      FROM tasks_task t
                     WHERE t.id = v_candidate
                       AND t.submitted_count + (SELECT count(*) FROM tasks_assignment a
                                                 WHERE a.task_id = t.id
                                                   AND a.status = 'active'
                                                   AND a.expires_at > v_now)
                           < v_set.assignments_per_task + t.extra_assignments
                )
                INSERT INTO tasks_assignment (
                    task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at,
                    reward_minor, currency, release_reason, review_status, review_reason)
                SELECT p.task_id, v_set.id, p.task_id <> v_candidate, p_worker, 'active',
                       v_now, v_now + make_interval(secs => v_set.time_limit_seconds),
                       v_set.reward_minor, v_set.currency, '', 'pending', ''
                  FROM picked p
                RETURNING id INTO v_made;
            END IF;
            IF v_made IS NOT NULL THEN
                RETURN work_claimed(v_made, false);
            END IF;
            v_after := v_candidate;  -- full after all: the next one
        END LOOP;
    END LOOP;
    IF NOT v_any_set THEN
        RETURN jsonb_build_object('outcome', 'no_sets');
    END IF;
    RETURN jsonb_build_object('outcome', 'no_tasks', 'contended', v_contended);
END
$function$;
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0017_check_retirement")]

    operations = [
        migrations.AddField(
            model_name="taskset",
            name="is_org_test",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="taskset",
            name="requires_org_test",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="taskset",
            constraint=models.CheckConstraint(
                condition=models.Q(("is_org_test", False), ("is_training", True), _connector="OR"),
                name="taskset_org_test_is_training",
            ),
        ),
        migrations.AddConstraint(
            model_name="taskset",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("requires_org_test", False), ("is_training", False), _connector="OR"
                ),
                name="taskset_training_requires_no_test",
            ),
        ),
        postgres_only_sql(FORWARD.strip(), REVERSE.strip()),
    ]

"""The claim and the answer as PostgreSQL functions: one round trip each.

tasks.work keeps the rules and runs them through the ORM on SQLite; on PostgreSQL it
calls these, which run the same rules, statement for statement, under the same locks
(tasks.work's docstring lists them). Through the client each claim was about nine
statements and each answer six, and the client's cost per statement (psycopg, the
thread hop, Django's cursor) was most of the server process's CPU per cycle.

Times come from the database server's clock, read after the locks that order them: a
late answer reads it under its task's lock, after every claim that could have counted
its slot as free."""

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

# The set's fields the messages, eligibility and the answer's effects read
# (tasks.work_pg.SET_COLUMNS): not its instructions, which may be long.
_SET_JSON = """
jsonb_build_object(
    'id', s.id, 'organization_id', s.organization_id, 'title', s.title, 'kind', s.kind,
    'label_options', s.label_options, 'reward_minor', s.reward_minor,
    'currency', s.currency, 'assignments_per_task', s.assignments_per_task,
    'gold_ratio_permille', s.gold_ratio_permille,
    'time_limit_seconds', s.time_limit_seconds,
    'min_reputation_permille', s.min_reputation_permille, 'language', s.language,
    'required_skill', s.required_skill, 'centre_id', s.centre_id,
    'priority', s.priority, 'status', s.status, 'is_training', s.is_training,
    'training_answer_budget', s.training_answer_budget,
    'gold_pass_permille', s.gold_pass_permille, 'normalise_case', s.normalise_case,
    'normalise_punctuation', s.normalise_punctuation,
    'target_confidence_permille', s.target_confidence_permille,
    'max_extra_assignments', s.max_extra_assignments)
"""

FORWARD = (
    """
CREATE OR REPLACE FUNCTION work_claimed(p_assignment bigint, p_resumed boolean)
RETURNS jsonb LANGUAGE sql AS $fn$
    SELECT jsonb_build_object(
        'outcome', 'task', 'resumed', p_resumed, 'assignment', to_jsonb(a),
        'task', jsonb_build_object(
            'id', t.id, 'payload_text', t.payload_text,
            'image_derivative', t.image_derivative),
        'set', """
    + _SET_JSON
    + """)
    FROM tasks_assignment a
    JOIN tasks_task t ON t.id = a.task_id
    JOIN tasks_taskset s ON s.id = a.task_set_id
    WHERE a.id = p_assignment
$fn$;

CREATE OR REPLACE FUNCTION work_claim(p_worker bigint, p_only_set bigint, p_max_active integer)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
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
             WHERE g.task_set_id = v_set.id AND g.is_gold
               AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                WHERE a.task_id = g.id AND a.worker_id = p_worker)
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
                                WHERE a.task_id = t.id AND a.worker_id = p_worker)
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
                                        WHERE a.task_id = t.id AND a.worker_id = p_worker)
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
            WITH gold AS (
                SELECT g.id FROM tasks_task g
                 WHERE v_wants_gold AND g.task_set_id = v_set.id AND g.is_gold
                   AND NOT EXISTS (SELECT 1 FROM tasks_assignment a
                                    WHERE a.task_id = g.id AND a.worker_id = p_worker)
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
$fn$;

CREATE OR REPLACE FUNCTION work_submit(
    p_assignment bigint, p_worker bigint, p_answer jsonb, p_text text,
    p_text_problem text, p_submission uuid, p_seconds integer,
    p_start_of_day timestamptz, p_allow_training boolean)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    v_a record;
    v_set record;
    v_stored jsonb;
    v_unknown text;
    v_count integer;
    v_is_gold boolean;
    v_extra integer;
    v_wanted integer;
    v_now timestamptz;
    v_others integer;
    v_seconds integer;
    v_earnings jsonb;
BEGIN
    -- The assignment first, locked: a resend racing its original waits here and
    -- then sees the first one's result. Only the assignment row: the set's row is
    -- the claimers' (they share-lock it), and a pause withdraws claims by locking
    -- the assignments.
    SELECT * INTO v_a FROM tasks_assignment
     WHERE id = p_assignment AND worker_id = p_worker FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    SELECT * INTO v_set FROM tasks_taskset WHERE id = v_a.task_set_id;
    IF v_set.is_training AND NOT p_allow_training THEN
        -- A trainee's feedback comes back with the answer: the caller's full path.
        RETURN jsonb_build_object('outcome', 'training');
    END IF;
    IF v_a.status IN ('submitted', 'voided') THEN
        IF v_a.submission_id = p_submission THEN
            RETURN jsonb_build_object(
                'outcome', 'replayed', 'assignment', to_jsonb(v_a),
                'set', (SELECT """
    + _SET_JSON
    + """ FROM tasks_taskset s WHERE s.id = v_a.task_set_id),
                'earnings', work_earnings(p_worker, p_start_of_day));
        END IF;
        RETURN jsonb_build_object('outcome', 'already_submitted');
    END IF;
    IF v_a.status = 'released' THEN
        RETURN jsonb_build_object('outcome', 'released', 'release_reason', v_a.release_reason);
    END IF;

    -- The answer in its stored shape (tasks.work.clean_answer); a transcription was
    -- cleaned by the caller, which names what is wrong with it.
    IF v_set.kind = 'label' THEN
        IF jsonb_typeof(p_answer) IS DISTINCT FROM 'string'
           OR NOT v_set.label_options ? (p_answer #>> '{}') THEN
            RETURN jsonb_build_object('outcome', 'invalid_answer', 'problem', 'not_option');
        END IF;
        v_stored := p_answer;
    ELSIF v_set.kind = 'multilabel' THEN
        IF jsonb_typeof(p_answer) IS DISTINCT FROM 'array' OR EXISTS (
            SELECT 1 FROM jsonb_array_elements(p_answer) e WHERE jsonb_typeof(e) <> 'string'
        ) THEN
            RETURN jsonb_build_object('outcome', 'invalid_answer', 'problem', 'not_list');
        END IF;
        SELECT x.e #>> '{}' INTO v_unknown
          FROM jsonb_array_elements(p_answer) WITH ORDINALITY x(e, i)
         WHERE NOT v_set.label_options ? (x.e #>> '{}')
         ORDER BY x.i LIMIT 1;
        IF v_unknown IS NOT NULL THEN
            RETURN jsonb_build_object(
                'outcome', 'invalid_answer', 'problem', 'unknown_option', 'option', v_unknown);
        END IF;
        -- The set's own order, each once: equal choices compare equal later.
        SELECT coalesce(jsonb_agg(o.e ORDER BY o.i), '[]'::jsonb) INTO v_stored
          FROM jsonb_array_elements(v_set.label_options) WITH ORDINALITY o(e, i)
         WHERE p_answer @> jsonb_build_array(o.e);
    ELSE
        IF p_text_problem IS NOT NULL THEN
            RETURN jsonb_build_object('outcome', 'invalid_answer', 'problem', p_text_problem);
        END IF;
        v_stored := to_jsonb(p_text);
    END IF;

    -- The task's row lock (claimers count its slots under the same lock), then the
    -- clock: every claim that could have counted this assignment as expired was made
    -- before, and is visible.
    SELECT submitted_count, is_gold, extra_assignments INTO v_count, v_is_gold, v_extra
      FROM tasks_task WHERE id = v_a.task_id FOR UPDATE;
    v_now := clock_timestamp();
    v_wanted := v_set.assignments_per_task + v_extra;
    IF v_a.expires_at <= v_now AND NOT v_is_gold THEN
        SELECT count(*) INTO v_others FROM tasks_assignment
         WHERE task_id = v_a.task_id AND status = 'active' AND expires_at > v_now
           AND id <> v_a.id;
        IF v_count + v_others >= v_wanted THEN
            RETURN jsonb_build_object('outcome', 'slot_retaken');
        END IF;
    END IF;
    -- Count the answer and close the task when full (gold never closes).
    UPDATE tasks_task
       SET submitted_count = submitted_count + 1,
           is_open = (is_gold OR submitted_count + 1 < v_wanted)
     WHERE id = v_a.task_id;
    v_seconds := CASE WHEN p_seconds IS NULL THEN NULL
                      ELSE greatest(0, least(p_seconds, v_set.time_limit_seconds * 4)) END;
    UPDATE tasks_assignment
       SET status = 'submitted', answer = v_stored, submission_id = p_submission,
           submitted_at = v_now, seconds_spent = v_seconds
     WHERE id = v_a.id
    RETURNING * INTO v_a;
    RETURN jsonb_build_object(
        'outcome', 'submitted', 'assignment', to_jsonb(v_a),
        'set', (SELECT """
    + _SET_JSON
    + """ FROM tasks_taskset s WHERE s.id = v_a.task_set_id),
        'is_gold', v_is_gold,
        'closes_task', NOT v_is_gold AND v_count + 1 = v_wanted,
        'earnings', work_earnings(p_worker, p_start_of_day));
END
$fn$;
"""
)

# Created first: work_submit calls it.
EARNINGS = """
CREATE OR REPLACE FUNCTION work_earnings(p_worker bigint, p_start_of_day timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $fn$
    -- Per currency: today's pay and count, and all pay not yet out (a rejected
    -- answer is not paid, unless an appeal restores it): tasks.work.earnings_by_currency.
    SELECT coalesce(jsonb_agg(jsonb_build_array(currency, today, today_count, pending)
                              ORDER BY currency), '[]'::jsonb)
      FROM (SELECT currency,
                   coalesce(sum(reward_minor) FILTER (WHERE submitted_at >= p_start_of_day), 0)
                       AS today,
                   count(*) FILTER (WHERE submitted_at >= p_start_of_day) AS today_count,
                   sum(reward_minor) AS pending
              FROM tasks_assignment
             WHERE worker_id = p_worker AND status = 'submitted'
               AND review_status <> 'rejected'
             GROUP BY currency) e
$fn$;
"""

REVERSE = """
DROP FUNCTION IF EXISTS work_submit(bigint, bigint, jsonb, text, text, uuid, integer,
                                    timestamptz, boolean);
DROP FUNCTION IF EXISTS work_claim(bigint, bigint, integer);
DROP FUNCTION IF EXISTS work_claimed(bigint, boolean);
DROP FUNCTION IF EXISTS work_earnings(bigint, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0010_task_settled_at")]

    operations = [postgres_only_sql(EARNINGS + FORWARD, REVERSE)]

// The Probot app of the ingest benchmark: on `issues.labeled`, enqueue one job into Redis.
//
// The same work Specloop's webhook endpoint does per delivery, in one Redis round trip (a Lua script,
// as Specloop's queue does): remember the delivery id (SET NX with a week's TTL, so a redelivery is
// refused), store the job's arguments, and add the job id to the queue's sorted set. Probot has
// already verified the signature (X-Hub-Signature-256) and parsed the JSON before this runs.

/** Keys and TTLs; the benchmark counts QUEUE_KEY's members to check that every delivery was enqueued. */
export const QUEUE_KEY = "peer:queue";
const DELIVERY_TTL_SECONDS = 7 * 24 * 3600;
const JOB_TTL_MS = 24 * 3600 * 1000;

// KEYS: delivery key, job key, queue. ARGV: delivery TTL (s), job id, job payload, score (ms), job TTL (ms).
const ENQUEUE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
`;

/**
 * Build the Probot app function around a connected ioredis client.
 *
 * @param {import("ioredis").Redis} redis the peer's own Redis
 * @returns {(app: import("probot").Probot) => void}
 */
export function makeApp(redis) {
  redis.defineCommand("enqueueDelivery", { numberOfKeys: 3, lua: ENQUEUE_SCRIPT });

  return (app) => {
    app.on("issues.labeled", async (context) => {
      const { issue, label, repository, sender, installation } = context.payload;
      if (issue.pull_request || !label) return;
      const story = `${repository.full_name}#${issue.number}`;
      const jobId = `map_story:${story}:${context.id}`;
      const job = JSON.stringify({
        function: "map_story",
        installation_id: installation?.id,
        repo: repository.full_name,
        number: issue.number,
        actor: sender?.login ?? null,
        label: label.name,
        delivery: context.id,
      });
      await redis.enqueueDelivery(
        `peer:delivery:${context.id}`, `peer:job:${jobId}`, QUEUE_KEY,
        DELIVERY_TTL_SECONDS, jobId, job, Date.now(), JOB_TTL_MS,
      );
    });
  };
}

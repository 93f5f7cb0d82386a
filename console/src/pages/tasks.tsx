import { seg } from "../api";
import type { Bot, Task } from "../api";
import { href } from "../router";
import { Badge, ErrorNote, Loading, Section, Untrusted, fmtTime, useAction, useApp, useLoad } from "../ui";

export function TasksPage({ botId }: { botId: string }) {
  const { api } = useApp();
  const bot = useLoad(() => api.get<Bot>(`/bots/${seg(botId)}`), [botId]);
  const tasks = useLoad(() => api.get<{ tasks: Task[] }>(`/bots/${seg(botId)}/tasks`), [botId]);
  return (
    <>
      <p class="crumbs">
        <a href={href("bots")}>Bots</a> › <a href={href("bots", botId)}>{bot.data ? bot.data.name : botId}</a> ›
      </p>
      <Section
        title="Scheduled tasks"
        actions={
          <button type="button" onClick={tasks.reload} disabled={tasks.loading}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={tasks.error} />
        {tasks.loading && !tasks.data ? <Loading what="tasks" /> : null}
        {tasks.data && tasks.data.tasks.length === 0 ? (
          <p class="muted">No tasks. A bot schedules one when someone asks it to ("every morning at 8, …").</p>
        ) : null}
        <ul class="list">
          {(tasks.data?.tasks ?? []).map((t) => (
            <TaskRow task={t} onChanged={tasks.reload} />
          ))}
        </ul>
      </Section>
    </>
  );
}

function TaskRow({ task: t, onChanged }: { task: Task; onChanged: () => void }) {
  const { api, canWrite, flash } = useApp();
  const action = useAction();
  const act = (verb: "pause" | "resume" | "cancel") =>
    action.run(async () => {
      await api.post<Task>(`/bots/${seg(t.bot_id)}/tasks/${seg(t.task_id)}/${verb}`);
      flash(`Task ${verb === "cancel" ? "cancelled" : verb === "pause" ? "paused" : "resumed"}.`);
      onChanged();
    });
  const finished = t.status === "cancelled" || t.status === "completed" || t.status === "done";
  return (
    <li class="task" data-task-id={t.task_id}>
      <div class="request-head">
        <strong>
          {t.schedule_type} {t.schedule_value}
          {t.timezone ? ` (${t.timezone})` : ""}
        </strong>
        <Badge value={t.status} />
      </div>
      <p class="pre-line">
        <Untrusted text={t.prompt} />
      </p>
      <dl class="facts compact">
        <dt>Where</dt>
        <dd>
          {t.channel}:{t.conversation_id}
        </dd>
        <dt>Next run</dt>
        <dd>{fmtTime(t.next_run)}</dd>
        <dt>Last run</dt>
        <dd>{fmtTime(t.last_run)}</dd>
        <dt>Runs</dt>
        <dd>{t.run_count ?? 0}</dd>
      </dl>
      {canWrite && !finished ? (
        <div class="buttons">
          {t.status === "paused" ? (
            <button type="button" disabled={action.busy} onClick={() => act("resume")}>
              Resume
            </button>
          ) : (
            <button type="button" disabled={action.busy} onClick={() => act("pause")}>
              Pause
            </button>
          )}
          <button type="button" class="danger" disabled={action.busy} onClick={() => act("cancel")}>
            Cancel task
          </button>
        </div>
      ) : null}
      <ErrorNote error={action.error} />
    </li>
  );
}

"""The console in a real browser against the all-in-one server."""

from __future__ import annotations

import httpx

from tests.console.conftest import ADMIN, expect, register, token


def _create_project_with_task(console, name: str, task: str) -> None:  # type: ignore[no-untyped-def]
    page = console.page
    page.get_by_label("New project").fill(name)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    page.get_by_label("Task title").fill(task)
    page.get_by_label("Priority", exact=True).first.select_option("high")
    page.get_by_label("Labels").fill("docs, launch")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator('ul.cards[data-status="todo"] li.card', has_text=task)).to_be_visible()


def _add_tasks(base_url: str, project_id: str) -> None:
    """A few more cards, so the screenshot shows a board in use."""
    headers = {"Authorization": f"Bearer {token(base_url, 'alice@example.com')}"}
    for title, priority, labels, status in [
        ("Book the venue", "urgent", ["events"], "in_progress"),
        ("Draft the press release", "medium", ["docs"], None),
        ("Review the budget", "low", [], None),
    ]:
        created = httpx.post(
            f"{base_url}/api/v1/projects/{project_id}/tasks",
            json={"title": title, "priority": priority, "labels": labels},
            headers=headers,
        )
        created.raise_for_status()
        if status:
            httpx.patch(
                f"{base_url}/api/v1/tasks/{created.json()['id']}", json={"status": status}, headers=headers
            ).raise_for_status()


def test_wrong_password_shows_the_problem_details(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "wrong@example.com", "Wrong")
    console = open_console(all_in_one)

    console.page.get_by_label("Email").fill("wrong@example.com")
    console.page.get_by_label("Password").fill("not the password")
    console.page.get_by_role("button", name="Sign in").click()

    alert = console.page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(console.page.get_by_role("button", name="Sign out")).to_be_hidden()


def test_assignee_is_notified_live_and_the_summary_follows_the_board(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "alice@example.com", "Alice")
    register(all_in_one, "bob@example.com", "Bob")
    alice = open_console(all_in_one).sign_in("alice@example.com")
    bob = open_console(all_in_one).sign_in("bob@example.com")
    expect(bob.page.locator("#unread")).to_have_text("0")
    _create_project_with_task(alice, "Apollo", "Write the launch notes")
    alice.page.get_by_text("Members", exact=True).click()
    alice.page.get_by_label("Add member by email").fill("bob@example.com")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    expect(alice.page.locator("ul.members")).to_contain_text("Bob")
    expect(bob.page.locator("#unread")).to_have_text("1")  # "you were added to Apollo", live

    alice.page.get_by_label("Assignee of Write the launch notes").select_option(label="Bob")

    expect(bob.page.locator("#unread")).to_have_text("2")
    expect(bob.page.locator(".toast", has_text="Write the launch notes")).to_be_visible()
    card = alice.page.locator("li.card", has_text="Write the launch notes")
    expect(card).to_contain_text("Assigned to Bob")
    card.locator("h3").drag_to(alice.page.locator('section.column[data-status="done"]'))
    expect(alice.page.locator('ul.cards[data-status="done"] li.card')).to_contain_text(
        "Write the launch notes"
    )
    expect(alice.page.locator('[data-figure="done"] dd')).to_have_text("1")
    expect(alice.page.locator('[data-figure="todo"] dd')).to_have_text("0")
    _add_tasks(all_in_one, alice.page.url.rsplit("/", 1)[-1])
    alice.page.reload()
    expect(alice.page.locator('[data-figure="in_progress"] dd')).to_have_text("1")
    alice.screenshot("board")
    bob.page.get_by_role("button", name="Notifications").click()
    expect(bob.page.locator("#notification-list li").first).to_be_visible()
    assert alice.security_violations() == []
    assert bob.security_violations() == []


def test_a_card_changed_elsewhere_says_so_and_reloads(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "carol@example.com", "Carol")
    carol = open_console(all_in_one).sign_in("carol@example.com")
    _create_project_with_task(carol, "Gemini", "Pick a name")
    task_id = carol.page.locator("li.card").first.get_attribute("data-task-id")
    httpx.patch(
        f"{all_in_one}/api/v1/tasks/{task_id}",
        json={"title": "Pick a better name"},
        headers={"Authorization": f"Bearer {token(all_in_one, 'carol@example.com')}"},
    ).raise_for_status()

    carol.page.get_by_label("Status of Pick a name").select_option("in_progress")

    card = carol.page.locator(f'li.card[data-task-id="{task_id}"]')
    expect(card).to_contain_text("Changed elsewhere")
    expect(card).to_contain_text("Pick a better name")
    expect(carol.page.locator('ul.cards[data-status="todo"]')).to_contain_text("Pick a better name")


def test_filters_narrow_the_board(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "dave@example.com", "Dave")
    dave = open_console(all_in_one).sign_in("dave@example.com")
    _create_project_with_task(dave, "Mercury", "Urgent thing")
    dave.page.get_by_label("Task title").fill("Calm thing")
    dave.page.get_by_label("Labels").fill("")
    dave.page.get_by_role("button", name="Add task").click()
    expect(dave.page.locator("li.card")).to_have_count(2)

    dave.page.locator("#filters").get_by_label("Label").fill("launch")
    dave.page.locator("#filters").get_by_label("Label").press("Enter")

    expect(dave.page.locator("li.card")).to_have_count(1)
    expect(dave.page.locator("li.card")).to_contain_text("Urgent thing")


def test_admin_sees_six_modules_and_the_event_chart(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, ADMIN, "Admin")
    admin = open_console(all_in_one).sign_in(ADMIN)

    admin.page.get_by_role("link", name="System").click()

    expect(admin.page.locator("table.modules-table tbody tr")).to_have_count(6)
    expect(admin.page.locator("#system-bus")).to_have_text("bus: memory")
    expect(admin.page.locator("#event-chart .legend")).to_contain_text("auth.user_registered")
    expect(admin.page.get_by_role("link", name="Grafana")).to_have_attribute("href", "http://127.0.0.1:3000/")
    admin.screenshot("system")
    assert admin.security_violations() == []


def test_members_have_no_system_view(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "erin@example.com", "Erin")
    erin = open_console(all_in_one).sign_in("erin@example.com")

    erin.page.goto(f"{all_in_one}/console#/system")

    expect(erin.page.get_by_role("link", name="System")).to_be_hidden()
    expect(erin.page.get_by_role("heading", name="Projects")).to_be_visible()


def test_sign_out_returns_to_sign_in_and_forgets_the_tokens(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "fay@example.com", "Fay")
    fay = open_console(all_in_one).sign_in("fay@example.com")

    fay.page.get_by_role("button", name="Sign out").click()

    expect(fay.page.get_by_role("button", name="Sign in")).to_be_visible()
    assert fay.page.evaluate("() => sessionStorage.length") == 0
    fay.page.reload()
    expect(fay.page.get_by_role("button", name="Sign in")).to_be_visible()


def test_at_phone_width_the_columns_stack(open_console, all_in_one):  # type: ignore[no-untyped-def]
    register(all_in_one, "gus@example.com", "Gus")
    gus = open_console(all_in_one, viewport={"width": 375, "height": 740}).sign_in("gus@example.com")
    _create_project_with_task(gus, "Vostok", "Fit on a phone")

    boxes = [gus.page.locator(f'section.column[data-status="{s}"]').bounding_box() for s in ("todo", "done")]

    assert boxes[0]["x"] == boxes[1]["x"]
    assert boxes[1]["y"] > boxes[0]["y"]
    assert gus.page.evaluate("() => document.documentElement.scrollWidth") <= 375

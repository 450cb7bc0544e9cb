"""Reports: what the numbers in SQL mean to a manager, computed once and shown everywhere (the
CLI, the API, the Telegram /report, the web console, the monthly report).

surveys: NPS, CSAT, CES and response rates. tickets: volume, reply and resolution times (wall
clock and working hours), targets, reopens, backlog, per staff member. self_service: FAQ
deflection and helpfulness. customers: activity, churn, cohorts. themes: what promoters,
passives, detractors and tickets say. Every figure beside the previous period's (figures).
"""

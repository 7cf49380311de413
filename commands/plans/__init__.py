"""Action plans (handlingsplaner) per team and cohort, and the follow-up that asks about them."""

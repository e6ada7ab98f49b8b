# Payment plans, plan policies and upsell offers arrive in a later slice.

"""The verifier app for shop staff and youth organisations: Kivy screens over ``verifier_app.model``."""

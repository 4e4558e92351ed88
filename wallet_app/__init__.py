"""The citizen's wallet: Kivy screens (to come) over a model layer with no Kivy import (``wallet_app.model``)."""

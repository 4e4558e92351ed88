"""The wallet's model layer: no Kivy import, so it runs and is tested headless."""

"""What the Kivy apps (verifier_app, wallet_app) share: the camera viewfinder over didlib.scanner."""

"""Training stages on trl: SFT, preference learning (DPO / KTO / NCA) and the Eurus reward model."""

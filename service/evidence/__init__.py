"""Evidence: photos, drawings, audio, video and documents attached to visits."""

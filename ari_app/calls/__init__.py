"""One callback attempt on the phone: admin first, then the lead, bridged; AMD and the voicemail drop."""

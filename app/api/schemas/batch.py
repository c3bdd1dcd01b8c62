"""The batch enrolment contract: many subjects in one all-or-nothing request."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.api.schemas.subjects import SubjectIn

MAX_BATCH = 1000

SubjectBatch = Annotated[
    list[SubjectIn],
    Field(min_length=1, max_length=MAX_BATCH,
          description=f"Up to {MAX_BATCH} subjects, each as for a single enrolment"),
]


class BatchOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    imported: int = Field(description="Subjects enrolled (all of the request)", examples=[250])
    visits: int = Field(description="Visit rows of their calendars", examples=[2750])
